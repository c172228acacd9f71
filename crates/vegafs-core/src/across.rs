//! Moves across file systems (`vegafs move` to a target on another file system than its
//! entry): no rename can do it, so the entry is copied first (a `copy` step:
//! [`copy_all`](crate::copy_file::copy_all): temporary name, fsync, no-replace publish), then
//! its source removed by the second step, [`remove_moved`]: only if the source is still the
//! entry planned (device, inode, mtime) and the copy is verified to be its copy (the source's
//! BLAKE3 digest, or a symlink's text), and only once the copy's directory is fsynced. Its
//! reverse, [`restore_moved`], copies the target back where the source is gone.

use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{unlinkat, AtFlags, OFlags};

use crate::apply::{identity, sync_parents, Renamed};
use crate::control::CancelToken;
use crate::copy_file::{copy_all, is_ours, CopyStep};
use crate::places::Places;

/// Removes each step's source (`from`) once its copy (`to`) is verified and durable, in order,
/// until one fails or `cancel` is set. A source changed since the plan, or a copy that is not
/// the source's, stops it with an error and that source kept. The copies verified are fsynced
/// (their directories, once each) before the first source goes.
pub fn remove_moved(places: &Places, steps: &[CopyStep], cancel: &CancelToken) -> Renamed {
    let mut verified = 0;
    let mut error = None;
    for step in steps {
        if cancel.is_cancelled() {
            break;
        }
        if let Err(e) = verify(places, step) {
            error = Some(e);
            break;
        }
        verified += 1;
    }
    let copies: Vec<PathBuf> = steps[..verified].iter().map(|s| s.to.clone()).collect();
    if let Err(e) = sync_parents(places, &copies) {
        return Renamed { done: 0, error: Some(e) };
    }
    for (i, step) in steps[..verified].iter().enumerate() {
        let removed = places.parent(&step.from, OFlags::PATH).and_then(|(dir, name)| {
            unlinkat(&dir, &name, AtFlags::empty()).map_err(io::Error::from)
        });
        if let Err(e) = removed {
            let e = io::Error::new(e.kind(), format!("{}: {e}", step.from.display()));
            return Renamed { done: i, error: Some(e) };
        }
    }
    Renamed { done: verified, error }
}

/// The source still the entry planned, and the target its copy.
fn verify(places: &Places, step: &CopyStep) -> io::Result<()> {
    let changed = |path: &Path, why: &str| io::Error::other(format!("{}: {why}", path.display()));
    if identity(places, &step.from)? != Some(step.identity) {
        return Err(changed(&step.from, "changed since the plan was made (the source is kept)"));
    }
    if is_ours(places, step)? != Some(true) {
        return Err(changed(&step.to, "is not a verified copy of the source (the source is kept)"));
    }
    Ok(())
}

/// Reverses `steps`, last first: where a source is gone and its copy is there, the copy is
/// copied back to the source's path (through the temporary name `temp`, in the source's
/// directory); the others are left (never done, or reversed already).
pub fn restore_moved(places: &Places, steps: &[CopyStep]) -> Renamed {
    let mut done = 0;
    for step in steps.iter().rev() {
        let back = match (identity(places, &step.from), identity(places, &step.to)) {
            (Ok(None), Ok(Some(copy))) => CopyStep {
                from: step.to.clone(),
                to: step.from.clone(),
                temp: step.temp.clone(),
                identity: copy,
                digest: step.digest,
            },
            (Ok(_), Ok(_)) => continue,
            (Err(e), _) | (_, Err(e)) => return Renamed { done, error: Some(e) },
        };
        let copied = copy_all(places, std::slice::from_ref(&back), &CancelToken::default());
        if let Some(e) = copied.error {
            return Renamed { done, error: Some(e) };
        }
        done += 1;
    }
    Renamed { done, error: None }
}

/// Whether each step is done (recovery): its source gone and its copy there.
pub fn moved_done(places: &Places, steps: &[CopyStep]) -> io::Result<Vec<bool>> {
    steps
        .iter()
        .map(|s| Ok(identity(places, &s.from)?.is_none() && identity(places, &s.to)?.is_some()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy_file::blake3_of;
    use std::os::unix::fs::MetadataExt;

    fn step(from: &Path, to: &Path, temp: &Path) -> CopyStep {
        let m = std::fs::symlink_metadata(from).unwrap();
        let id = (m.dev(), m.ino(), m.mtime() * 1_000_000_000 + m.mtime_nsec());
        CopyStep {
            from: from.into(),
            to: to.into(),
            temp: temp.into(),
            identity: id,
            digest: Some(blake3_of(&Places::anywhere(), from).unwrap()),
        }
    }

    #[test]
    fn the_source_goes_only_after_a_verified_copy_and_comes_back() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        std::fs::write(&a, "content").unwrap();
        let s = step(&a, &b, &d.path().join(".t1"));
        let (places, cancel) = (Places::anywhere(), CancelToken::default());
        // No copy yet: refused, the source kept.
        let refused = remove_moved(&places, std::slice::from_ref(&s), &cancel);
        assert_eq!(refused.done, 0);
        assert!(refused.error.unwrap().to_string().contains("not a verified copy"));
        assert!(a.exists());
        assert_eq!(copy_all(&places, std::slice::from_ref(&s), &cancel).done, 1);
        let removed = remove_moved(&places, std::slice::from_ref(&s), &cancel);
        assert_eq!((removed.done, removed.error.is_none()), (1, true));
        assert!(!a.exists());
        assert_eq!(moved_done(&places, std::slice::from_ref(&s)).unwrap(), [true]);
        let back = restore_moved(&places, std::slice::from_ref(&s));
        assert_eq!((back.done, back.error.is_none()), (1, true));
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "content");
        let mtime = |p: &Path| std::fs::metadata(p).unwrap().mtime_nsec();
        assert_eq!(mtime(&a), mtime(&b));
        assert_eq!(moved_done(&places, std::slice::from_ref(&s)).unwrap(), [false]);
        // Run again: nothing to restore.
        assert_eq!(restore_moved(&places, std::slice::from_ref(&s)).done, 0);
    }
}
