//! Plans of moves across directories (`vegafs move`, and any `from -> to` the caller gives):
//! every check of [`plan_moves`](crate::plan::plan_moves), plus those a path brings:
//!
//! - a missing directory on a target's path is created first (the plan's `mkdirs`, parents
//!   first); one that exists as something else than a directory refuses the move;
//! - a file or symlink whose target is on another file system is marked to be copied, then
//!   removed (the plan's `across`); any other entry there is refused (EXDEV);
//! - a target below a directory that another move moves is refused, unless the entry is in that
//!   directory too (then it moves first, while the path holds: `a/f -> a/g/f, a -> b`);
//! - a target that another move needs as a new directory is refused.
//!
//! Paths are read as the tree is before the plan runs. The order is a topological one: a move
//! runs after the moves of entries below its source (their paths hold until then) and after the
//! move that frees its target (chains); a cycle of the latter goes through one temporary name in
//! the source's directory. Moves that wait on each other through their directories (`a/x -> b`,
//! `b/y -> a`, both `a` and `b` moving) have no order: they are refused as tangled, and the plan
//! with them, whatever `on_conflict` says.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::plan::{
    check_alone, check_together, Action, OnConflict, Plan, PlanRow, PlanStep, Refusal,
};

/// Checks and orders `moves` (`from -> to`, and a refusal the caller already found, such as a
/// bad path); `temp_tag` names cycle hops (`.vegafs-TAG-N`).
pub fn plan_tree_moves(
    moves: Vec<(PathBuf, PathBuf, Option<Refusal>)>,
    on_conflict: OnConflict,
    temp_tag: &str,
) -> Plan {
    let mut rows: Vec<PlanRow> = moves
        .into_iter()
        .map(|(from, to, refusal)| {
            let action = match refusal {
                Some(r) => Action::Refused(r),
                None if from == to => Action::Unchanged,
                None => Action::Move,
            };
            PlanRow { from, to, action }
        })
        .collect();
    let mut across = vec![false; rows.len()];
    for (i, row) in rows.iter_mut().enumerate().filter(|(_, r)| r.action == Action::Move) {
        let checked = match check_alone(&row.from, &row.to) {
            Some(refusal) => Err(refusal),
            None => check_path(&row.from, &row.to),
        };
        match checked {
            Ok(crosses) => across[i] = crosses,
            Err(refusal) => row.action = Action::Refused(refusal),
        }
    }
    loop {
        let mut changed = check_together(&mut rows, on_conflict, temp_tag);
        // A suffixed target stays in its directory: the path checks still hold for it.
        changed |= check_paths_together(&mut rows, on_conflict);
        if !changed || on_conflict == OnConflict::Fail {
            break;
        }
    }
    let refused = rows.iter().any(|r| matches!(r.action, Action::Refused(_)));
    // Skip and Suffix leave the refused entries where they are; Fail and Overwrite (which
    // resolves only existing targets) refuse the plan.
    let mut ok = !refused || matches!(on_conflict, OnConflict::Skip | OnConflict::Suffix);
    let mut steps = Vec::new();
    let mut mkdirs = Vec::new();
    if ok {
        match order(&rows, temp_tag) {
            Ok(ordered) => {
                steps = ordered;
                mkdirs = to_create(&rows);
            }
            Err(tangled) => {
                for i in tangled {
                    rows[i].action = Action::Refused(Refusal::Tangled);
                }
                ok = false;
            }
        }
    }
    // Rows added since (targets set aside) stay in their directory.
    let across = (0..across.len()).filter(|&i| across[i] && rows[i].action == Action::Move);
    Plan { across: across.collect(), rows, steps, ok, mkdirs }
}

/// The checks of a target's directories: the nearest one that exists must be a directory, on
/// the entry's file system unless the entry is a file or a symlink. Whether the target is on
/// another file system.
fn check_path(from: &Path, to: &Path) -> Result<bool, Refusal> {
    let source = fs::symlink_metadata(from).map_err(|e| Refusal::Unreadable(e.to_string()))?;
    let copyable = source.is_file() || source.file_type().is_symlink();
    let mut dir = to.parent();
    while let Some(d) = dir {
        let at = if d.as_os_str().is_empty() { Path::new(".") } else { d };
        match fs::metadata(at) {
            Ok(m) if m.is_dir() => {
                let crosses = m.dev() != source.dev();
                return if crosses && !copyable { Err(Refusal::CrossDevice) } else { Ok(crosses) };
            }
            Ok(_) => return Err(Refusal::NotADirectory(at.to_path_buf())),
            // Missing (created by the plan), or below a file: the loop goes up to it.
            Err(e)
                if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {}
            Err(e) => return Err(Refusal::Unreadable(format!("{}: {e}", at.display()))),
        }
        dir = d.parent();
    }
    Ok(false)
}

/// The directories of `to`'s path that do not exist, deepest first.
fn missing_dirs(to: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dir = to.parent();
    while let Some(d) = dir {
        if d.as_os_str().is_empty() || fs::symlink_metadata(d).is_ok() {
            break;
        }
        out.push(d.to_path_buf());
        dir = d.parent();
    }
    out
}

/// The checks of the moves' paths against each other: a target below a directory that moves
/// (the entry not in it), a target another move needs as a directory. Whether anything changed.
fn check_paths_together(rows: &mut [PlanRow], on_conflict: OnConflict) -> bool {
    let moving: HashSet<PathBuf> =
        rows.iter().filter(|r| r.action == Action::Move).map(|r| r.from.clone()).collect();
    let needed: HashSet<PathBuf> = rows
        .iter()
        .filter(|r| r.action == Action::Move)
        .flat_map(|r| missing_dirs(&r.to))
        .collect();
    let mut changed = false;
    for row in rows.iter_mut().filter(|r| r.action == Action::Move) {
        let refusal = if needed.contains(&row.to) {
            Some(Refusal::DirectoryNeeded)
        } else {
            row.to
                .ancestors()
                .skip(1)
                .find(|a| moving.contains(*a) && !row.from.starts_with(a))
                .map(|a| Refusal::MovesToo(a.to_path_buf()))
        };
        if let Some(refusal) = refusal {
            row.action = Action::Refused(refusal);
            changed = true;
        }
    }
    let _ = on_conflict; // refused either way: neither skip nor a suffix changes a path's directories
    changed
}

/// The directories the accepted moves need created, parents first.
fn to_create(rows: &[PlanRow]) -> Vec<PathBuf> {
    let all: BTreeSet<PathBuf> = rows
        .iter()
        .filter(|r| r.action == Action::Move)
        .flat_map(|r| missing_dirs(&r.to))
        .collect();
    // PathBuf orders by components: a directory comes before everything below it.
    all.into_iter().collect()
}

/// The accepted moves in an order that keeps every path valid when it is used (see the module's
/// documentation); Err: the rows of the moves left that no order runs.
fn order(rows: &[PlanRow], temp_tag: &str) -> Result<Vec<PlanStep>, Vec<usize>> {
    let moves: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].action == Action::Move).collect();
    let n = moves.len();
    let by_source: HashMap<&Path, usize> =
        moves.iter().enumerate().map(|(k, &i)| (rows[i].from.as_path(), k)).collect();
    // name_succ[k]: the move onto k's source (it runs after k). tree_succ[k]: the move of the
    // nearest moving directory above k's source (it runs after k).
    let mut name_succ: Vec<Option<usize>> = vec![None; n];
    let mut tree_succ: Vec<Option<usize>> = vec![None; n];
    let mut waits_name = vec![false; n];
    let mut waits_tree = vec![0usize; n];
    for (k, &i) in moves.iter().enumerate() {
        if let Some(&j) = by_source.get(rows[i].to.as_path()) {
            name_succ[j] = Some(k);
            waits_name[k] = true;
        }
        if let Some(&j) = rows[i].from.ancestors().skip(1).find_map(|a| by_source.get(a)) {
            tree_succ[k] = Some(j);
            waits_tree[j] += 1;
        }
    }
    // Deeper sources first, then in the rows' order: the order rename's plans have.
    let depths: Vec<usize> = moves.iter().map(|&i| rows[i].from.components().count()).collect();
    let key = |k: usize| (Reverse(depths[k]), moves[k]);
    let mut ready: BTreeSet<(Reverse<usize>, usize, usize)> = BTreeSet::new();
    // The moves nothing below waits on, not done: where a cycle is broken when no move is
    // ready (each checked when it comes first: one that is done, or whose name nobody waits
    // for any more, never will again, and goes). Kept, not looked for: a scan of every move
    // each time made a plan of 10,000 swaps take 2 s.
    let mut free_below: BTreeSet<(Reverse<usize>, usize, usize)> = BTreeSet::new();
    for k in 0..n {
        let (d, i) = key(k);
        if waits_tree[k] == 0 {
            free_below.insert((d, i, k));
            if !waits_name[k] {
                ready.insert((d, i, k));
            }
        }
    }
    let mut at: Vec<PathBuf> = moves.iter().map(|&i| rows[i].from.clone()).collect();
    let mut done = vec![false; n];
    let mut left = n;
    let mut temps = 0usize;
    let mut steps = Vec::with_capacity(n);
    loop {
        while let Some((_, _, k)) = ready.pop_first() {
            let row = moves[k];
            steps.push(PlanStep { from: at[k].clone(), to: rows[row].to.clone(), row });
            done[k] = true;
            left -= 1;
            if let Some(j) = name_succ[k] {
                waits_name[j] = false;
            }
            if let Some(j) = tree_succ[k] {
                waits_tree[j] -= 1;
                if waits_tree[j] == 0 {
                    let (d, i) = key(j);
                    free_below.insert((d, i, j));
                }
            }
            for j in [name_succ[k], tree_succ[k]].into_iter().flatten() {
                if !waits_name[j] && waits_tree[j] == 0 && !done[j] {
                    let (d, i) = key(j);
                    ready.insert((d, i, j));
                }
            }
        }
        if left == 0 {
            return Ok(steps);
        }
        // Stuck: only cycles are left. Park a source that nothing below it waits on and whose
        // name another move waits for: it frees that name.
        let mut park = None;
        while let Some((_, _, k)) = free_below.pop_first() {
            if !done[k] && name_succ[k].is_some_and(|j| !done[j]) {
                park = Some(k);
                break;
            }
        }
        let Some(k) = park else {
            return Err((0..n).filter(|&k| !done[k]).map(|k| moves[k]).collect());
        };
        temps += 1;
        let temp = at[k].with_file_name(format!(".vegafs-{temp_tag}-{temps}"));
        steps.push(PlanStep { from: at[k].clone(), to: temp.clone(), row: moves[k] });
        at[k] = temp;
        let j = name_succ[k].take().expect("filtered above");
        waits_name[j] = false;
        if waits_tree[j] == 0 {
            let (d, i) = key(j);
            ready.insert((d, i, j));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `steps` on a model of the tree (paths of entries; a directory carries what is
    /// below it), failing on a missing source or a taken target.
    fn simulate(tree: &mut BTreeSet<PathBuf>, mkdirs: &[PathBuf], steps: &[PlanStep]) {
        for d in mkdirs {
            assert!(tree.contains(d.parent().unwrap()), "{d:?}: no parent");
            assert!(tree.insert(d.clone()), "{d:?} exists");
        }
        for s in steps {
            assert!(tree.contains(&s.from), "{:?} is not there", s.from);
            assert!(!tree.contains(&s.to), "{:?} would be overwritten", s.to);
            assert!(tree.contains(s.to.parent().unwrap()), "{:?}: no directory", s.to);
            let below: Vec<PathBuf> =
                tree.iter().filter(|p| p.starts_with(&s.from)).cloned().collect();
            for p in below {
                tree.remove(&p);
                tree.insert(s.to.join(p.strip_prefix(&s.from).unwrap()));
            }
        }
    }

    fn tree_of(root: &Path) -> BTreeSet<PathBuf> {
        let mut out = BTreeSet::from([root.to_path_buf()]);
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if e.file_type().unwrap().is_dir() {
                    stack.push(p.clone());
                }
                out.insert(p);
            }
        }
        out
    }

    #[test]
    fn directories_are_created_and_moves_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir_all(r.join("a/sub")).unwrap();
        for f in ["a/1", "a/sub/2", "x", "y"] {
            fs::write(r.join(f), f).unwrap();
        }
        let moves = vec![
            (r.join("a/sub/2"), r.join("a/new/deep/2"), None), // into a, which moves after
            (r.join("a"), r.join("b/a"), None),
            (r.join("x"), r.join("y"), None), // y moves away first: a chain
            (r.join("y"), r.join("c/y"), None),
        ];
        let plan = plan_tree_moves(moves, OnConflict::Fail, "t");
        assert!(plan.ok, "{:?}", plan.rows);
        assert_eq!(plan.mkdirs, [r.join("a/new"), r.join("a/new/deep"), r.join("b"), r.join("c")]);
        let mut tree = tree_of(r);
        simulate(&mut tree, &plan.mkdirs, &plan.steps);
        assert!(tree.contains(&r.join("b/a/new/deep/2")) && tree.contains(&r.join("b/a/1")));
        assert!(tree.contains(&r.join("y")) && tree.contains(&r.join("c/y")));
    }

    #[test]
    fn bad_paths_are_refused_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir(r.join("d")).unwrap();
        for f in ["f", "g", "d/h", "i"] {
            fs::write(r.join(f), f).unwrap();
        }
        let moves = vec![
            (r.join("g"), r.join("f/g"), None),   // through a file
            (r.join("d/h"), r.join("z/h"), None), // fine alone, but z is i's target
            (r.join("i"), r.join("z"), None),
            (r.join("d"), r.join("d/e/d"), None), // into itself
        ];
        let plan = plan_tree_moves(moves, OnConflict::Fail, "t");
        let reasons: Vec<_> = plan.rows.iter().map(|r| r.action.clone()).collect();
        assert_eq!(
            reasons,
            [
                Action::Refused(Refusal::NotADirectory(r.join("f"))),
                Action::Move,
                Action::Refused(Refusal::DirectoryNeeded),
                Action::Refused(Refusal::IntoItself),
            ]
        );
        assert!(!plan.ok && plan.steps.is_empty());
    }

    #[test]
    fn a_cycle_goes_through_a_temporary_name_and_a_tangle_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir_all(r.join("p")).unwrap();
        fs::create_dir_all(r.join("q")).unwrap();
        fs::write(r.join("p/1"), "1").unwrap();
        fs::write(r.join("q/2"), "2").unwrap();
        let swap = vec![(r.join("p/1"), r.join("q/2"), None), (r.join("q/2"), r.join("p/1"), None)];
        let plan = plan_tree_moves(swap, OnConflict::Fail, "t");
        assert!(plan.ok);
        assert_eq!(plan.steps.len(), 3);
        let mut tree = tree_of(r);
        simulate(&mut tree, &plan.mkdirs, &plan.steps);
        // Each directory moves into the other's place while an entry of it goes there too.
        fs::write(r.join("p/x"), "x").unwrap();
        fs::write(r.join("q/y"), "y").unwrap();
        let tangle = vec![
            (r.join("p/x"), r.join("q"), None),
            (r.join("q/y"), r.join("p"), None),
            (r.join("p"), r.join("p2"), None),
            (r.join("q"), r.join("q2"), None),
        ];
        let plan = plan_tree_moves(tangle, OnConflict::Skip, "t");
        assert!(!plan.ok);
        assert!(plan.rows.iter().all(|r| r.action == Action::Refused(Refusal::Tangled)));
    }
}
