//! Bench-only experiment (issue 10): many small files copied by rayon threads (what
//! `copy_file` does) against a pipeline on one Tokio runtime, whose file I/O (`tokio::fs`) runs
//! on its blocking pool: here one blocking task per file, at most 4 per thread in flight. Same
//! per-file work both ways: open, create, `copy_file_range`, mode, times, close; no fsync (both
//! would pay the same `syncfs`).
//!
//! `cargo run --release -p vegafs-core --example copy_pipeline -- [FILES] [THREADS]`: makes a tree
//! of FILES files (0-4 KiB, 100 per directory) in a temporary directory, then copies it into
//! fresh directories three times with each, alternating, and prints wall and CPU seconds.

use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

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
        for way in ["rayon", "tokio"] {
            let dest = top.path().join(way);
            fresh(&dest, dirs);
            let (start, cpu) = (Instant::now(), cpu_seconds());
            match way {
                "rayon" => pool.install(|| {
                    pairs
                        .par_iter()
                        .for_each(|(from, rel)| copy_one(from, &dest.join(rel)).unwrap())
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
            println!("round {round} {way:<6} {files} files {wall:>7.2} s wall {cpu:>7.2} s CPU");
        }
    }
}
