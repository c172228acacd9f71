//! Bench-only experiment (issue 10): many small files copied by rayon threads (what
//! `copy_file` does) against a pipeline on one Tokio runtime, whose file I/O (`tokio::fs`) runs
//! on its blocking pool (one blocking task per file, at most 4 per thread in flight), and
//! against io_uring: one ring per core, files in chunks of 256, each stage of a chunk (statx and
//! open the sources; create the copies and read; write; close) one submission of 256-512
//! entries. io_uring has no fchmod or futimens, so those two stay system calls. Same per-file
//! work every way: open, create, copy the bytes, mode, times, close; no fsync (all would pay
//! the same `syncfs`).
//!
//! `cargo run --release --manifest-path bench/copy-pipeline/Cargo.toml -- [FILES] [THREADS]`: makes a tree
//! of FILES files (0-4 KiB, 100 per directory) in a temporary directory, then copies it into
//! fresh directories three times each way, alternating, and prints wall and CPU seconds.

use std::ffi::CString;
use std::fs::{self, File};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use io_uring::{opcode, types, IoUring};
use rayon::prelude::*;

/// Files per io_uring chunk: each stage submits one entry (or two) per file.
const CHUNK: usize = 256;

fn copy_one(from: &Path, to: &Path) -> std::io::Result<()> {
    let src = File::open(from)?;
    let meta = src.metadata()?;
    let out = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(to)?;
    let mut left = meta.len() as usize;
    while left > 0 {
        let n = rustix::fs::copy_file_range(&src, None, &out, None, left)?;
        if n == 0 {
            break;
        }
        left -= n;
    }
    rustix::fs::fchmod(&out, rustix::fs::Mode::from_raw_mode(meta.mode() & 0o7777))?;
    let times = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec { tv_sec: meta.atime(), tv_nsec: meta.atime_nsec() },
        last_modification: rustix::fs::Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec(),
        },
    };
    rustix::fs::futimens(&out, &times)?;
    Ok(())
}

/// Submits what is queued on `ring` and returns each entry's result, by its `user_data` (the
/// index given when pushed), as a byte count or a descriptor.
fn run_ring(
    ring: &mut IoUring,
    entries: Vec<io_uring::squeue::Entry>,
) -> Vec<std::io::Result<i32>> {
    let count = entries.len();
    for entry in &entries {
        // SAFETY: every buffer and path an entry points to outlives this call, which waits for
        // all of them to complete.
        unsafe { ring.submission().push(entry).expect("the ring holds a whole stage") };
    }
    let mut out: Vec<std::io::Result<i32>> = (0..count).map(|_| Ok(0)).collect();
    let mut seen = 0;
    while seen < count {
        ring.submit_and_wait(count - seen).unwrap();
        for done in ring.completion() {
            let res = done.result();
            out[done.user_data() as usize] =
                if res < 0 { Err(std::io::Error::from_raw_os_error(-res)) } else { Ok(res) };
            seen += 1;
        }
    }
    out
}

fn cstring(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

/// One chunk of files copied through `ring`, stage by stage.
fn uring_copy(ring: &mut IoUring, chunk: &[(PathBuf, PathBuf)]) -> std::io::Result<()> {
    let cwd = types::Fd(libc::AT_FDCWD);
    let n = chunk.len();
    let froms: Vec<CString> = chunk.iter().map(|(f, _)| cstring(f)).collect();
    let tos: Vec<CString> = chunk.iter().map(|(_, t)| cstring(t)).collect();
    // SAFETY: statx is plain data; the kernel fills it.
    let mut stats: Vec<libc::statx> = vec![unsafe { std::mem::zeroed() }; n];
    let mut stage = Vec::with_capacity(2 * n);
    for (i, (from, stat)) in froms.iter().zip(stats.iter_mut()).enumerate() {
        let buf = (stat as *mut libc::statx).cast::<types::statx>();
        stage.push(
            opcode::Statx::new(cwd, from.as_ptr(), buf)
                .mask(libc::STATX_BASIC_STATS)
                .build()
                .user_data(i as u64),
        );
        let open = opcode::OpenAt::new(cwd, from.as_ptr()).flags(libc::O_RDONLY | libc::O_CLOEXEC);
        stage.push(open.build().user_data((n + i) as u64));
    }
    let done = run_ring(ring, stage);
    let mut sources = Vec::with_capacity(n);
    for i in 0..n {
        done[i]
            .as_ref()
            .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error().unwrap()))?;
        // SAFETY: a descriptor the open just returned, owned here.
        sources.push(unsafe { OwnedFd::from_raw_fd(*done[n + i].as_ref().unwrap()) });
    }
    let mut bufs: Vec<Vec<u8>> = stats.iter().map(|s| vec![0; s.stx_size as usize]).collect();
    let mut stage = Vec::with_capacity(2 * n);
    for (i, (to, buf)) in tos.iter().zip(bufs.iter_mut()).enumerate() {
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
        stage.push(
            opcode::OpenAt::new(cwd, to.as_ptr())
                .flags(flags)
                .mode(0o600)
                .build()
                .user_data(i as u64),
        );
        let fd = types::Fd(std::os::fd::AsRawFd::as_raw_fd(&sources[i]));
        stage.push(
            opcode::Read::new(fd, buf.as_mut_ptr(), buf.len() as u32)
                .build()
                .user_data((n + i) as u64),
        );
    }
    let done = run_ring(ring, stage);
    let mut copies = Vec::with_capacity(n);
    for i in 0..n {
        let fd = *done[i]
            .as_ref()
            .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error().unwrap()))?;
        // SAFETY: as above.
        copies.push(unsafe { OwnedFd::from_raw_fd(fd) });
        assert_eq!(*done[n + i].as_ref().unwrap() as usize, bufs[i].len(), "a short read");
    }
    let stage = (0..n)
        .map(|i| {
            let fd = types::Fd(std::os::fd::AsRawFd::as_raw_fd(&copies[i]));
            opcode::Write::new(fd, bufs[i].as_ptr(), bufs[i].len() as u32)
                .build()
                .user_data(i as u64)
        })
        .collect();
    for (i, written) in run_ring(ring, stage).into_iter().enumerate() {
        assert_eq!(written? as usize, bufs[i].len(), "a short write");
    }
    for (copy, stat) in copies.iter().zip(&stats) {
        rustix::fs::fchmod(
            copy,
            rustix::fs::Mode::from_raw_mode(u32::from(stat.stx_mode) & 0o7777),
        )?;
        let at = |t: libc::statx_timestamp| rustix::fs::Timespec {
            tv_sec: t.tv_sec,
            tv_nsec: t.tv_nsec.into(),
        };
        let times = rustix::fs::Timestamps {
            last_access: at(stat.stx_atime),
            last_modification: at(stat.stx_mtime),
        };
        rustix::fs::futimens(copy, &times)?;
    }
    // Closed through the ring: the descriptors are given up, not dropped.
    let stage = sources
        .into_iter()
        .chain(copies)
        .enumerate()
        .map(|(i, fd)| {
            let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
            opcode::Close::new(types::Fd(raw)).build().user_data(i as u64)
        })
        .collect();
    for closed in run_ring(ring, stage) {
        closed?;
    }
    Ok(())
}

/// User + system CPU seconds of this process (`/proc/self/stat`, 100 ticks a second).
fn cpu_seconds() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
}

fn fresh(dest: &Path, dirs: usize) {
    let _ = fs::remove_dir_all(dest);
    for d in 0..dirs {
        fs::create_dir_all(dest.join(format!("d{d:04}"))).unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let files: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let threads: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(16);
    let top = tempfile::tempdir_in(std::env::var_os("TMPDIR").unwrap_or(".".into())).unwrap();
    let (src, dirs) = (top.path().join("src"), files.div_ceil(100));
    fresh(&src, dirs);
    let mut seed = 42u64;
    let pairs: Vec<(PathBuf, PathBuf)> = (0..files)
        .map(|i| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let rel = format!("d{:04}/f{i:06}", i / 100);
            fs::write(src.join(&rel), vec![b'x'; (seed >> 52) as usize]).unwrap();
            (src.join(&rel), PathBuf::from(rel))
        })
        .collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    for round in 0..3 {
        for way in ["rayon", "tokio", "uring"] {
            let dest = top.path().join(way);
            fresh(&dest, dirs);
            let (start, cpu) = (Instant::now(), cpu_seconds());
            match way {
                "rayon" => pool.install(|| {
                    pairs
                        .par_iter()
                        .for_each(|(from, rel)| copy_one(from, &dest.join(rel)).unwrap())
                }),
                "uring" => pool.install(|| {
                    let jobs: Vec<Vec<(PathBuf, PathBuf)>> = pairs
                        .chunks(CHUNK)
                        .map(|c| c.iter().map(|(f, rel)| (f.clone(), dest.join(rel))).collect())
                        .collect();
                    jobs.par_iter().for_each_init(
                        || IoUring::new(2 * CHUNK as u32).unwrap(),
                        |ring, chunk| uring_copy(ring, chunk).unwrap(),
                    )
                }),
                _ => runtime.block_on(async {
                    let mut tasks = tokio::task::JoinSet::new();
                    for (from, rel) in &pairs {
                        let (from, to) = (from.clone(), dest.join(rel));
                        // What tokio::fs does with each call: the blocking pool. One task
                        // per file (its calls in one hop, not one hop per call).
                        tasks.spawn_blocking(move || copy_one(&from, &to));
                        while tasks.len() >= threads * 4 {
                            tasks.join_next().await.unwrap().unwrap().unwrap();
                        }
                    }
                    while let Some(done) = tasks.join_next().await {
                        done.unwrap().unwrap();
                    }
                }),
            }
            let (wall, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu);
            // Untimed: every copy has its source's bytes and mtime.
            for (from, rel) in &pairs {
                let (to, meta) = (dest.join(rel), fs::metadata(from).unwrap());
                assert_eq!(fs::read(&to).unwrap(), fs::read(from).unwrap(), "{}", to.display());
                assert_eq!(fs::metadata(&to).unwrap().mtime_nsec(), meta.mtime_nsec());
            }
            println!("round {round} {way:<6} {files} files {wall:>7.2} s wall {cpu:>7.2} s CPU");
        }
    }
}
