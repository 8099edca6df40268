// The module list: NT_FILE mappings grouped by path, plus the vDSO, each with what its ELF
// header page inside the core tells (GNU build-id, .note.package, load bias).
import { Bytes, fitsLong, fnv1a } from './bytes';
import { Core, Mapping, PT_LOAD, PT_NOTE } from './core';
import { Note, NoteReader } from './notes';
import { Problems } from './problems';

/** Modules beyond this many are left out of the list (and counted as a problem). */
export const MAX_MODULES: i32 = 1024;
/** Bytes read from the start of a module's first mapping: its ELF header page. */
export const HEADER_PAGE_BYTES: u32 = 4096;
/** Longest build-id kept, in bytes (SHA-1 ids are 20, some linkers write up to 32). */
const MAX_BUILD_ID_BYTES: u32 = 64;
/** Longest .note.package JSON kept, in bytes. */
export const MAX_PACKAGE_BYTES: u32 = 2048;

// include/uapi/linux/elf.h; the FDO packaging note is specified at
// https://systemd.io/ELF_PACKAGE_METADATA/ (note type 0xcafe1a7e, owner "FDO").
const NT_GNU_BUILD_ID: u32 = 3;
const NT_FDO_PACKAGING_METADATA: u32 = 0xcafe1a7e;
const MODULE_PHDR_SIZE: u32 = 56;
const PAGE_MASK: u64 = 4095;

export class Module {
  start: u64;
  end: u64;
  /** Start of the lowest mapping at file offset 0, where the ELF header sits; 0 when none. */
  headerAddr: u64 = 0;
  buildId: string | null = null;
  pkg: Bytes | null = null;
  /** Address minus bias is the address in the module's own ELF address space. */
  bias: u64;

  constructor(
    public path: Bytes,
    m: Mapping,
  ) {
    this.start = m.start;
    this.end = m.end;
    this.bias = m.start;
  }

  contains(addr: u64): bool {
    return addr >= this.start && addr < this.end;
  }
}

function byModuleStart(a: Module, b: Module): i32 {
  return a.start < b.start ? -1 : a.start > b.start ? 1 : 0;
}

const VDSO_NAME = String.UTF8.encode('[vdso]');

/** Groups the NT_FILE mappings by path; the vDSO joins as "[vdso]". Sorted by start address. */
export function buildModules(core: Core, problems: Problems): Module[] {
  const modules: Module[] = [];
  const byHash = new Map<u32, i32>();
  let left: i32 = 0;
  for (let i = 0; i < core.mappings.length; i++) {
    const m = core.mappings[i];
    const key = fnv1a(m.path);
    let mod: Module | null = null;
    if (byHash.has(key)) {
      const candidate = modules[byHash.get(key)];
      const same = candidate.path.len == m.path.len && candidate.path.equals(0, m.path);
      mod = same ? candidate : findByPath(modules, m.path);
    }
    if (mod == null) {
      if (modules.length >= MAX_MODULES) {
        left++;
        continue;
      }
      mod = new Module(m.path, m);
      if (!byHash.has(key)) byHash.set(key, modules.length);
      modules.push(mod);
    }
    widen(mod, m);
  }
  if (left > 0)
    problems.add(
      left.toString() +
        ' mappings of modules past the first ' +
        MAX_MODULES.toString() +
        ' left out',
    );

  const vdso = core.atSysinfoEhdr;
  const seg = vdso != 0 ? core.segmentAt(vdso) : null;
  const end = seg != null ? seg.vaddr + seg.memsz : 0;
  if (
    seg != null &&
    end > vdso &&
    fitsLong(vdso) &&
    fitsLong(end) &&
    modules.length < MAX_MODULES
  ) {
    const path = new Bytes(changetype<usize>(VDSO_NAME), <u32>VDSO_NAME.byteLength);
    const mod = new Module(path, new Mapping(vdso, end, 0, path));
    mod.headerAddr = vdso;
    modules.push(mod);
  }
  modules.sort(byModuleStart);
  return modules;
}

// Only consulted when two paths share a hash (the map keeps the first module per hash), so
// a hostile core with colliding paths costs time in proportion to the capped module count.
function findByPath(modules: Module[], path: Bytes): Module | null {
  for (let i = modules.length - 1; i >= 0; i--) {
    const p = modules[i].path;
    if (p.len == path.len && p.equals(0, path)) return modules[i];
  }
  return null;
}

function widen(mod: Module, m: Mapping): void {
  if (m.start < mod.start) mod.start = m.start;
  if (m.end > mod.end) mod.end = m.end;
  if (m.pgoff == 0 && (mod.headerAddr == 0 || m.start < mod.headerAddr)) {
    mod.headerAddr = m.start;
    mod.bias = m.start;
  }
}

/** The module holding `addr`, by binary search over modules sorted by start; null if none. */
export function moduleAt(modules: Module[], addr: u64): i32 {
  let lo = 0;
  let hi = modules.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (modules[mid].start <= addr) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return -1;
  return modules[lo - 1].contains(addr) ? lo - 1 : -1;
}

/**
 * Reads a module's ELF header page as it was mapped: the ELF header, the program headers, and
 * the PT_NOTE segments that fall inside the page. Sets the build-id, the package note and the
 * load bias. Returns false when the page is not a usable ELF header.
 */
export function readModuleHeader(mod: Module, page: Bytes, problems: Problems): bool {
  if (!page.has(0, 64) || page.u32(0) != 0x464c457f || page.u8(4) != 2 || page.u8(5) != 1) {
    return false;
  }
  const phoff = page.u64(32);
  const phnum = <u64>page.u16(56);
  if (page.u16(54) != MODULE_PHDR_SIZE || !page.has(phoff, phnum * MODULE_PHDR_SIZE)) {
    problems.add(
      'the program headers of a module at 0x' +
        mod.headerAddr.toString(16) +
        ' lie outside its first page',
    );
    return false;
  }

  let lowest: u64 = u64.MAX_VALUE;
  for (let i: u32 = 0; i < <u32>phnum; i++) {
    const ph = <u32>phoff + i * MODULE_PHDR_SIZE;
    const type = page.u32(ph);
    const offset = page.u64(ph + 8);
    if (type == PT_LOAD) {
      const vaddr = page.u64(ph + 16);
      if (offset <= vaddr && vaddr - offset < lowest) lowest = vaddr - offset;
    } else if (type == PT_NOTE) {
      const filesz = page.u64(ph + 32);
      const align = page.u64(ph + 48) == 8 ? 8 : 4;
      if (page.has(offset, filesz))
        readModuleNotes(mod, page.sub(<u32>offset, <u32>filesz), align, problems);
    }
  }
  // The first PT_LOAD maps file offset 0 at (page-aligned) vaddr - offset; the mapping at file
  // offset 0 therefore starts at bias + that address.
  if (lowest != u64.MAX_VALUE) mod.bias = mod.headerAddr - (lowest & ~PAGE_MASK);
  return true;
}

function readModuleNotes(mod: Module, seg: Bytes, align: u32, problems: Problems): void {
  const reader = new NoteReader(seg, align);
  const note = new Note();
  while (reader.next(note)) {
    if (note.type == NT_GNU_BUILD_ID && note.nameIs('GNU') && mod.buildId == null) {
      const d = note.desc();
      if (d.len > 0 && d.len <= MAX_BUILD_ID_BYTES) mod.buildId = d.hex();
    } else if (note.type == NT_FDO_PACKAGING_METADATA && note.nameIs('FDO') && mod.pkg == null) {
      const d = note.desc();
      const n = d.cstrlen(0);
      const len = n < 0 ? d.len : <u32>n;
      if (len > MAX_PACKAGE_BYTES) {
        problems.add('a .note.package of ' + len.toString() + ' bytes was left out');
      } else if (len > 0) {
        mod.pkg = d.sub(0, len);
      }
    }
  }
}
