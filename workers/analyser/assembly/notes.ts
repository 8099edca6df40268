// ELF note iteration (Elf64_Nhdr: u32 namesz, u32 descsz, u32 type; then the name and the
// descriptor, each padded to the segment's alignment). Core notes use 4-byte alignment;
// .note.gnu.property segments in modules use 8.
import { alignUp, Bytes } from './bytes';

const NHDR_SIZE: u32 = 12;

/**
 * One note, as offsets into its segment. Nothing is allocated per note: a core can hold
 * millions of tiny notes, and the module's allocator never frees.
 */
export class Note {
  type: u32 = 0;
  seg: Bytes = new Bytes(0, 0);
  /** The name without its terminating NUL. */
  nameOff: u32 = 0;
  nameLen: u32 = 0;
  descOff: u32 = 0;
  descLen: u32 = 0;

  nameIs(expected: string): bool {
    if (<i32>this.nameLen != expected.length) return false;
    for (let i: u32 = 0; i < this.nameLen; i++) {
      if (this.seg.u8(this.nameOff + i) != <u32>expected.charCodeAt(i)) return false;
    }
    return true;
  }

  desc(): Bytes {
    return this.seg.sub(this.descOff, this.descLen);
  }
}

export class NoteReader {
  private off: u32 = 0;
  /** Set when a note header claims more bytes than the segment holds. */
  malformed: bool = false;

  constructor(
    private seg: Bytes,
    private align: u32,
  ) {}

  /** Fills `note` with the next note; false at the end of the segment or on a malformed note. */
  next(note: Note): bool {
    const seg = this.seg;
    if (this.off >= seg.len) return false;
    if (!seg.has(this.off, NHDR_SIZE)) {
      this.malformed = true;
      return false;
    }
    const namesz = <u64>seg.u32(this.off);
    const descsz = <u64>seg.u32(this.off + 4);
    const nameAt = <u64>this.off + NHDR_SIZE;
    const descAt = alignUp(nameAt + namesz, this.align);
    const end = alignUp(descAt + descsz, this.align);
    if (!seg.has(nameAt, namesz) || !seg.has(descAt, descsz)) {
      this.malformed = true;
      return false;
    }
    let nameLen = <u32>namesz;
    if (nameLen > 0 && seg.u8(<u32>nameAt + nameLen - 1) == 0) nameLen--;
    note.type = seg.u32(this.off + 8);
    note.seg = seg;
    note.nameOff = <u32>nameAt;
    note.nameLen = nameLen;
    note.descOff = <u32>descAt;
    note.descLen = <u32>descsz;
    this.off = end > <u64>seg.len ? seg.len : <u32>end;
    return true;
  }
}
