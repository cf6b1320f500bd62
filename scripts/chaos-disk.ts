/**
 * A data disk the chaos runner can fill or break: an ext4 filesystem on a loop device whose image
 * file lives, sparse, on a tmpfs of its own (so a run's disk traffic stays in memory).
 *
 * - fill(): a filler file on the ext4 takes its last free byte: the member's writes fail with
 *   ENOSPC (a full disk).
 * - fail(): the loop device under the mounted filesystem is cut down to its first MiB (the
 *   `lo_sizelimit` of LOOP_SET_STATUS64). The block layer then refuses every read and write
 *   beyond it as past the end of the device (BLK_STS_IOERR), ext4 aborts its journal and turns
 *   read-only, and the member gets EIO — a disk that has started failing. The image is untouched.
 * - repair(): unmount (which releases the cut-down loop device), check the image (e2fsck replays
 *   or repairs the journal) and mount it on a fresh loop device: what the member synced before the
 *   failure is there, the rest may not be.
 *
 * Why not device-mapper's `error` target: it needs the kernel's device-mapper driver, which some
 * kernels (containers, micro-VMs) do not have. Why not a full backing tmpfs under the image: the
 * loop device then reports "no space" (BLK_STS_NOSPC), which reaches the process as ENOSPC on
 * fsync — a thin-provisioned volume running out, not a failing disk. The size limit gives the
 * kernel path of a real device error (I/O error on the bio, the filesystem above it, EIO to the
 * process) wherever loop devices can be mounted. Everything here needs root, and python3 for the
 * one ioctl node cannot make.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Sets a loop device's size limit in bytes (0: the whole backing file), through LOOP_SET_STATUS64. */
const SET_SIZELIMIT = `import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
info = bytearray(232)  # struct loop_info64
fcntl.ioctl(fd, 0x4C05, info)  # LOOP_GET_STATUS64
struct.pack_into('Q', info, 32, int(sys.argv[2]))  # lo_sizelimit
fcntl.ioctl(fd, 0x4C04, bytes(info))  # LOOP_SET_STATUS64
`;

/** What the device keeps of itself once failed: the superblock and group descriptors. */
const FAILED_DEVICE_BYTES = 1 << 20;

function run(cmd: string, args: readonly string[]): { ok: boolean; status: number | null; text: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, status: r.status, text: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() };
}

/** Writes zeros to `file` until the filesystem refuses another byte. Returns the bytes written. */
export function fillFile(file: string): number {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(1 << 20);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, chunk);
  } catch {
    // ENOSPC: full; now the last bytes
    for (let size = 1 << 19; size >= 1; size >>= 1) {
      try {
        for (;;) written += writeSync(fd, chunk, 0, size);
      } catch {
        // next smaller size
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

export class FailableDisk {
  private mounted = false;
  private backed = false;

  /** `base` holds the backing tmpfs (`base/backing`) and the ext4 mount point (`base/disk`). */
  constructor(
    readonly base: string,
    readonly sizeMiB = 128,
  ) {}

  get mountPoint(): string {
    return join(this.base, 'disk');
  }

  private get backing(): string {
    return join(this.base, 'backing');
  }

  private get image(): string {
    return join(this.backing, 'ext4.img');
  }

  /** The directory to give the member (`--data`): a subdirectory, so the ext4's lost+found is not in it. */
  get dataDir(): string {
    return join(this.mountPoint, 'data');
  }

  /** Creates and mounts the disk; resolves with undefined, or the reason it cannot be made here. */
  create(): string | undefined {
    if (process.getuid?.() !== 0) return 'mounting needs root';
    const py = run('python3', ['-c', 'import fcntl, struct']);
    if (!py.ok) return `python3 is needed for the loop device ioctl: ${py.text}`;
    mkdirSync(this.backing, { recursive: true });
    mkdirSync(this.mountPoint, { recursive: true });
    // The backing leaves a little room over the image, so it never fills itself.
    let r = run('mount', ['-t', 'tmpfs', '-o', `size=${this.sizeMiB + 16}m`, 'tmpfs', this.backing]);
    if (!r.ok) return `cannot mount a tmpfs: ${r.text}`;
    this.backed = true;
    r = run('truncate', ['-s', `${this.sizeMiB}M`, this.image]);
    if (r.ok) r = run('mkfs.ext4', ['-q', '-F', '-E', 'nodiscard', this.image]);
    if (!r.ok) {
      this.destroy();
      return `cannot make an ext4 image: ${r.text}`;
    }
    const problem = this.mount();
    if (problem) {
      this.destroy();
      return problem;
    }
    mkdirSync(this.dataDir, { recursive: true });
    return undefined;
  }

  private mount(): string | undefined {
    const r = run('mount', ['-o', 'loop,discard', this.image, this.mountPoint]);
    if (!r.ok) return `cannot mount an ext4 image on a loop device: ${r.text}`;
    this.mounted = true;
    return undefined;
  }

  /** Fills the ext4 to the last byte: the member's next writes fail with ENOSPC. */
  fill(): number {
    return fillFile(join(this.mountPoint, 'chaos-filler'));
  }

  /** Undoes fill(). */
  free(): void {
    rmSync(join(this.mountPoint, 'chaos-filler'), { force: true });
  }

  /** Makes the block device fail (EIO to the member), see the file comment. Returns the device. */
  fail(): string {
    const found = run('findmnt', ['-n', '-o', 'SOURCE', this.mountPoint]);
    const device = found.text.split('\n')[0]?.trim() ?? '';
    if (!found.ok || !device.startsWith('/dev/loop')) throw new Error(`no loop device under ${this.mountPoint}: ${found.text}`);
    const r = run('python3', ['-c', SET_SIZELIMIT, device, String(FAILED_DEVICE_BYTES)]);
    if (!r.ok) throw new Error(`cannot cut down ${device}: ${r.text}`);
    return device;
  }

  /**
   * Repairs a failed disk: unmounts it (the member's process must have exited; the loop device,
   * attached with autoclear, goes with it), runs e2fsck on the image and mounts it again. Throws
   * with e2fsck's words if the filesystem is beyond repair.
   */
  async repair(): Promise<void> {
    await this.unmount();
    // e2fsck exit codes 0-3: clean, or errors corrected.
    const r = run('e2fsck', ['-f', '-y', this.image]);
    if (r.status === null || r.status > 3) throw new Error(`e2fsck ${this.image} failed (${r.status}): ${r.text}`);
    const problem = this.mount();
    if (problem) throw new Error(problem);
    mkdirSync(this.dataDir, { recursive: true });
  }

  /** Unmounts the ext4, retrying while a process that just died still holds it. */
  async unmount(): Promise<void> {
    if (!this.mounted) return;
    const until = Date.now() + 10_000;
    for (;;) {
      const r = run('umount', [this.mountPoint]);
      if (r.ok) break;
      if (Date.now() > until) throw new Error(`cannot unmount ${this.mountPoint}: ${r.text}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    this.mounted = false;
  }

  /** Unmounts everything (best effort; for the end of a run). */
  destroy(): void {
    // Lazily if still busy: the loop device is released once the last user is gone.
    if (this.mounted && !run('umount', [this.mountPoint]).ok) run('umount', ['-l', this.mountPoint]);
    this.mounted = false;
    if (this.backed && !run('umount', [this.backing]).ok) run('umount', ['-l', this.backing]);
    this.backed = false;
  }
}
