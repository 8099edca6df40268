/** Reading a running agent's Prometheus endpoint in tests. */

/** Every `pidstream_*` sample of `url`/metrics, by its name with labels, as a number. */
export async function scrapeSamples(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(pidstream_[a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m !== null) samples.set(m[1] as string, Number(m[2]));
  }
  return samples;
}
