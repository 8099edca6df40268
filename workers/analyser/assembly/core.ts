// The core file itself: its ELF header, program headers and the notes the kernel writes
// (fs/binfmt_elf.c, elf_core_dump). Only ELF64 little-endian x86-64 cores are understood.
import { Bytes, fitsLong } from './bytes';
import { Note, NoteReader } from './notes';
import { Problems } from './problems';

/** Notes and program headers beyond this many head bytes are not read. */
export const MAX_HEAD_BYTES: u32 = 16 << 20;
/** NT_FILE entries beyond this many are ignored (the kernel caps the note near 4 MiB anyway). */
export const MAX_FILE_MAPPINGS: u32 = 65536;

const EHDR_SIZE: u32 = 64;
const PHDR_SIZE: u32 = 56;
// include/uapi/linux/elf.h
const ET_CORE: u32 = 4;
const EM_X86_64: u32 = 62;
const PN_XNUM: u32 = 0xffff;
export const PT_LOAD: u32 = 1;
export const PT_NOTE: u32 = 4;
export const PF_X: u32 = 1;
const NT_PRSTATUS: u32 = 1;
const NT_PRPSINFO: u32 = 3;
const NT_AUXV: u32 = 6;
const NT_SIGINFO: u32 = 0x53494749; // Linux 3.7
const NT_FILE: u32 = 0x46494c45; // Linux 3.7
// include/uapi/linux/auxvec.h
const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_ENTRY: u64 = 9;
const AT_SYSINFO_EHDR: u64 = 33;

// struct elf_prstatus (include/linux/elfcore.h) on x86-64: elf_prstatus_common is 112 bytes,
// then pr_reg, a struct user_regs_struct (arch/x86/include/asm/user_64.h) of 27 u64.
const PRSTATUS_SIZE: u32 = 336;
const PRSTATUS_CURSIG: u32 = 12;
const PRSTATUS_PID: u32 = 32;
const PRSTATUS_REG: u32 = 112;
const REG_RBP: u32 = PRSTATUS_REG + 4 * 8;
const REG_RIP: u32 = PRSTATUS_REG + 16 * 8;
const REG_RSP: u32 = PRSTATUS_REG + 19 * 8;
// struct elf_prpsinfo (include/linux/elfcore.h) on x86-64: 136 bytes.
const PRPSINFO_SIZE: u32 = 136;
const PRPSINFO_PID: u32 = 24;
const PRPSINFO_FNAME: u32 = 40;
const PRPSINFO_FNAME_LEN: u32 = 16;
// siginfo_t (include/uapi/asm-generic/siginfo.h): 128 bytes, si_addr at 16 for fault signals.
const SIGINFO_SIZE: u32 = 128;
const SIGINFO_CODE: u32 = 8;
const SIGINFO_ADDR: u32 = 16;

export class Segment {
  constructor(
    public vaddr: u64,
    public memsz: u64,
    public offset: u64,
    public filesz: u64,
    public flags: u32,
  ) {}
}

export class Mapping {
  constructor(
    public start: u64,
    public end: u64,
    /** File offset of the mapping, in pages of NT_FILE's page size. */
    public pgoff: u64,
    public path: Bytes,
  ) {}
}

export class Core {
  /** Head bytes still needed before the notes are complete; 0 when the head suffices. */
  needHead: u64 = 0;
  /** PT_LOAD segments, sorted by vaddr. */
  segments: Segment[] = [];
  threadCount: u32 = 0;
  hasThread: bool = false;
  tid: i32 = 0;
  cursig: i32 = 0;
  rip: u64 = 0;
  rsp: u64 = 0;
  rbp: u64 = 0;
  hasSiginfo: bool = false;
  signo: i32 = 0;
  sicode: i32 = 0;
  siaddr: u64 = 0;
  hasPsinfo: bool = false;
  pid: i32 = 0;
  comm: Bytes = new Bytes(0, 0);
  atPhdr: u64 = 0;
  atEntry: u64 = 0;
  atSysinfoEhdr: u64 = 0;
  mappings: Mapping[] = [];

  constructor(public problems: Problems) {}

  /** The PT_LOAD segment holding `addr`, by binary search; null when none does. */
  segmentAt(addr: u64): Segment | null {
    const lo = this.firstAbove(addr);
    if (lo == 0) return null;
    const s = this.segments[lo - 1];
    return addr - s.vaddr < s.memsz ? s : null;
  }

  /** The lowest PT_LOAD segment that starts above `addr`; null when none does. */
  segmentAbove(addr: u64): Segment | null {
    const lo = this.firstAbove(addr);
    return lo < this.segments.length ? this.segments[lo] : null;
  }

  private firstAbove(addr: u64): i32 {
    const segs = this.segments;
    let lo = 0;
    let hi = segs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (segs[mid].vaddr <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** True when `addr` lies in an executable mapping. */
  executable(addr: u64): bool {
    const s = this.segmentAt(addr);
    return s != null && (s.flags & PF_X) != 0;
  }
}

function bySegmentAddress(a: Segment, b: Segment): i32 {
  return a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0;
}

/**
 * Reads the ELF header, program headers and notes from the first bytes of a core. When the
 * head is too short, `needHead` says how many bytes would do (at most MAX_HEAD_BYTES).
 */
export function parseCore(head: Bytes, problems: Problems, partial: bool): Core {
  const core = new Core(problems);
  if (!head.has(0, EHDR_SIZE)) {
    needMore(core, head, EHDR_SIZE, partial);
    return core;
  }
  if (!checkHeader(head, problems)) return core;

  const phoff = head.u64(32);
  const phnum = head.u16(56);
  if (phnum == PN_XNUM) {
    problems.add('the core has more than 65534 segments (PN_XNUM), which is not supported');
    return core;
  }
  const phEnd = phoff + <u64>phnum * PHDR_SIZE;
  if (phoff > <u64>MAX_HEAD_BYTES || phEnd > <u64>MAX_HEAD_BYTES) {
    problems.add('program headers end at ' + phEnd.toString() + ', past the head cap');
    return core;
  }
  if (!head.has(0, phEnd)) {
    needMore(core, head, phEnd, partial);
    return core;
  }

  let notesEnd: u64 = 0;
  for (let i: u32 = 0; i < phnum; i++) {
    const ph = <u32>phoff + i * PHDR_SIZE;
    const type = head.u32(ph);
    const offset = head.u64(ph + 8);
    const filesz = head.u64(ph + 32);
    if (type == PT_LOAD) {
      const seg = new Segment(
        head.u64(ph + 16),
        head.u64(ph + 40),
        offset,
        filesz,
        head.u32(ph + 4),
      );
      core.segments.push(seg);
    } else if (type == PT_NOTE) {
      const end = offset + filesz < offset ? u64.MAX_VALUE : offset + filesz;
      if (end > notesEnd) notesEnd = end;
    }
  }
  core.segments.sort(bySegmentAddress);
  if (!head.has(0, notesEnd) && head.len < MAX_HEAD_BYTES) {
    needMore(core, head, notesEnd < <u64>MAX_HEAD_BYTES ? notesEnd : <u64>MAX_HEAD_BYTES, partial);
    // The kernel writes the crashing thread's NT_PRSTATUS and the process-wide notes first,
    // so the notes of a cut core are still worth reading when nothing more will come.
    if (!partial) return core;
  }

  // Program headers may all point at the same notes; reading at most MAX_HEAD_BYTES of notes
  // in total keeps the time bounded whatever the headers say.
  let budget = <u64>MAX_HEAD_BYTES;
  for (let i: u32 = 0; i < phnum; i++) {
    const ph = <u32>phoff + i * PHDR_SIZE;
    if (head.u32(ph) != PT_NOTE) continue;
    const offset = head.u64(ph + 8);
    let filesz = head.u64(ph + 32);
    const cut = !head.has(offset, filesz);
    if (cut && core.needHead == 0) {
      problems.add(
        'notes at ' + offset.toString() + ' end past the ' + head.len.toString() + ' bytes read',
      );
    }
    if (cut) {
      if (offset >= <u64>head.len) continue;
      filesz = <u64>head.len - offset;
    }
    if (filesz > budget) {
      problems.add('notes past ' + MAX_HEAD_BYTES.toString() + ' bytes in total not read');
      break;
    }
    budget -= filesz;
    readNotes(core, head.sub(<u32>offset, <u32>filesz), cut);
  }
  if (core.threadCount == 0) problems.add('the core holds no NT_PRSTATUS note');
  return core;
}

/** Records that the head is short; when no more will come (`partial`), that is a problem. */
function needMore(core: Core, head: Bytes, bytes: u64, partial: bool): void {
  core.needHead = bytes;
  if (partial) {
    core.problems.add('the core ends at byte ' + head.len.toString() + ', before its notes do');
  }
}

function checkHeader(head: Bytes, problems: Problems): bool {
  if (head.u32(0) != 0x464c457f) {
    problems.add('not an ELF file');
    return false;
  }
  if (head.u8(4) != 2 || head.u8(5) != 1) {
    problems.add('not a 64-bit little-endian ELF file');
    return false;
  }
  const type = head.u16(16);
  const machine = head.u16(18);
  if (type != ET_CORE || machine != EM_X86_64) {
    problems.add(
      'not an x86-64 core (e_type ' + type.toString() + ', e_machine ' + machine.toString() + ')',
    );
    return false;
  }
  if (head.u16(54) != PHDR_SIZE) {
    problems.add('program header size ' + head.u16(54).toString() + ', expected 56');
    return false;
  }
  return true;
}

/** Reads one PT_NOTE segment; `cut` says it was cut short, so its last note may be too. */
function readNotes(core: Core, seg: Bytes, cut: bool): void {
  const reader = new NoteReader(seg, 4);
  const note = new Note();
  while (reader.next(note)) {
    if (!note.nameIs('CORE')) continue;
    const t = note.type;
    if (t == NT_PRSTATUS) {
      core.threadCount++;
      if (!core.hasThread) readPrstatus(core, note.desc());
    } else if (t == NT_PRPSINFO && !core.hasPsinfo) readPrpsinfo(core, note.desc());
    else if (t == NT_SIGINFO && !core.hasSiginfo) readSiginfo(core, note.desc());
    else if (t == NT_AUXV) readAuxv(core, note.desc());
    else if (t == NT_FILE && core.mappings.length == 0) readFileNote(core, note.desc());
  }
  if (reader.malformed && !cut) core.problems.add('a note runs past the end of its segment');
}

// The kernel writes the thread that took the fatal signal first (fill_note_info in
// fs/binfmt_elf.c puts the dumping task at the head of its thread list), so the first
// NT_PRSTATUS is the crashing thread.
function readPrstatus(core: Core, d: Bytes): void {
  if (d.len < PRSTATUS_SIZE) {
    core.problems.add('NT_PRSTATUS of ' + d.len.toString() + ' bytes, expected 336');
    return;
  }
  core.hasThread = true;
  core.cursig = <i32>d.u16(PRSTATUS_CURSIG);
  core.tid = d.i32(PRSTATUS_PID);
  core.rip = d.u64(REG_RIP);
  core.rsp = d.u64(REG_RSP);
  core.rbp = d.u64(REG_RBP);
}

function readPrpsinfo(core: Core, d: Bytes): void {
  if (d.len < PRPSINFO_SIZE) return;
  core.hasPsinfo = true;
  core.pid = d.i32(PRPSINFO_PID);
  const fname = d.sub(PRPSINFO_FNAME, PRPSINFO_FNAME_LEN);
  const n = fname.cstrlen(0);
  core.comm = fname.sub(0, n < 0 ? PRPSINFO_FNAME_LEN : <u32>n);
}

function readSiginfo(core: Core, d: Bytes): void {
  if (d.len < SIGINFO_SIZE) return;
  core.hasSiginfo = true;
  core.signo = d.i32(0);
  core.sicode = d.i32(SIGINFO_CODE);
  core.siaddr = d.u64(SIGINFO_ADDR);
}

function readAuxv(core: Core, d: Bytes): void {
  for (let off: u32 = 0; d.has(off, 16); off += 16) {
    const type = d.u64(off);
    const value = d.u64(off + 8);
    if (type == AT_NULL) return;
    if (type == AT_PHDR) core.atPhdr = value;
    else if (type == AT_ENTRY) core.atEntry = value;
    else if (type == AT_SYSINFO_EHDR) core.atSysinfoEhdr = value;
  }
}

// NT_FILE: u64 count, u64 page_size, count x (u64 start, u64 end, u64 file_ofs in pages), then
// count NUL-terminated paths (fill_files_note in fs/binfmt_elf.c).
function readFileNote(core: Core, d: Bytes): void {
  if (!d.has(0, 16)) return;
  const count = d.u64(0);
  if (count > (<u64>d.len - 16) / 24) {
    core.problems.add(
      'NT_FILE claims ' + count.toString() + ' mappings in ' + d.len.toString() + ' bytes',
    );
    return;
  }
  let kept = <u32>count;
  if (kept > MAX_FILE_MAPPINGS) {
    core.problems.add(
      'NT_FILE lists ' +
        count.toString() +
        ' mappings; kept the first ' +
        MAX_FILE_MAPPINGS.toString(),
    );
    kept = MAX_FILE_MAPPINGS;
  }
  let name: u32 = 16 + <u32>count * 24;
  let unusable = 0;
  for (let i: u32 = 0; i < kept; i++) {
    const n = d.cstrlen(name);
    if (n < 0) {
      core.problems.add('NT_FILE path ' + i.toString() + ' is not terminated');
      return;
    }
    const e = 16 + i * 24;
    const start = d.u64(e);
    const end = d.u64(e + 8);
    if (end <= start || !fitsLong(start) || !fitsLong(end)) unusable++;
    else core.mappings.push(new Mapping(start, end, d.u64(e + 16), d.sub(name, <u32>n)));
    name += <u32>n + 1;
  }
  if (unusable > 0)
    core.problems.add(unusable.toString() + ' NT_FILE mappings with unusable addresses left out');
}

/** The core-file bytes of [addr, addr + n) when that memory was dumped: offset, else -1. */
export function coreOffsetOf(core: Core, addr: u64, n: u64): i64 {
  const s = core.segmentAt(addr);
  if (s == null) return -1;
  const into = addr - s.vaddr;
  if (into >= s.filesz || n > s.filesz - into) return -1;
  const off = s.offset + into;
  if (off < s.offset || off > <u64>i64.MAX_VALUE) return -1;
  return <i64>off;
}
