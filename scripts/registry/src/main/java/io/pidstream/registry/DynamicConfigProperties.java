package io.pidstream.registry;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.List;
import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.inject.Produces;

/**
 * The list of run-time-editable registry settings is normally generated at build time by a
 * Quarkus extension whose build-time half is not published on Maven Central. The test registry
 * needs none of those settings, so it gets an empty list.
 */
public class DynamicConfigProperties {
  @Produces
  @ApplicationScoped
  DynamicConfigPropertyList none() {
    return new DynamicConfigPropertyList(List.of());
  }
}
