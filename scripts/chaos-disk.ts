/**
 * A data disk the chaos runner can fill or break: an ext4 filesystem on a loop device whose image
 * file lives, sparse, on a tmpfs of its own (the "backing").
 *
 * - fill(): a filler file on the ext4 takes its last free byte: the member's writes fail with
 *   ENOSPC (a full disk).
 * - fail(): a filler file on the backing tmpfs takes its last free byte: the image can no longer
 *   grow, so the loop device fails every write to a block it has not stored yet, and the kernel
 *   hands the member EIO on fsync — a disk that has started failing writes. The filesystem is
 *   mounted with `discard`, so blocks ext4 frees go back to the backing and new writes hit the
 *   failure at once; the journal usually aborts and ext4 turns read-only, as on real hardware.
 * - repair(): free the backing, check the filesystem (e2fsck replays or repairs the journal), and
 *   mount it again: what the member synced before the failure is there, the rest may not be.
 *
 * Why not device-mapper's `error` target: it needs the kernel's device-mapper driver, which some
 * kernels (containers, micro-VMs) do not have; a loop device on a full tmpfs gives the same kernel
 * path (a block device that fails writes, the filesystem above it, EIO to the process) wherever
 * loop devices and tmpfs can be mounted. Everything here needs root.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

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
    mkdirSync(this.backing, { recursive: true });
    mkdirSync(this.mountPoint, { recursive: true });
    // The backing leaves a little room over the image, so only fail() ever fills it.
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

  /** Makes the block device fail writes (EIO to the member), see the file comment. */
  fail(): number {
    return fillFile(join(this.backing, 'chaos-filler'));
  }

  /**
   * Repairs a failed disk: unmounts it (the member's process must have exited), frees the backing,
   * runs e2fsck and mounts it again. Throws with e2fsck's words if the filesystem is beyond repair.
   */
  async repair(): Promise<void> {
    await this.unmount();
    rmSync(join(this.backing, 'chaos-filler'), { force: true });
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
