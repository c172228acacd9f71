//! pipeline() on real temporary trees: a filter's dropped files never reach the next step, each
//! step's counts, a bad pattern refused before the walk.

use std::fs;
use std::path::PathBuf;
use std::thread;

use vegafs_core::rows::{self, DEFAULT_CAPACITY};
use vegafs_core::{
    check_steps, pipeline, Algorithm, Control, CoreError, PipelineOptions, PipelineRow,
    PipelineSummary, SearchOptions, Selection, Step,
};

fn run(sel: &Selection, steps: &[Step]) -> Result<(PipelineSummary, Vec<PipelineRow>), CoreError> {
    let control = Control::default();
    let (sink, rx) = rows::channel(2, DEFAULT_CAPACITY, control.cancel.clone());
    let options = PipelineOptions { max_errors: 100 };
    let (summary, batches) = thread::scope(|s| {
        let call = s.spawn(|| pipeline(sel, steps, options, &control, sink));
        let batches: Vec<Vec<PipelineRow>> = rx.collect();
        (call.join().unwrap(), batches)
    });
    let mut rows = batches.concat();
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((summary?, rows))
}

fn matching(pattern: &str, invert: bool) -> Step {
    let options = SearchOptions { patterns: vec![pattern.into()], ..Default::default() };
    Step::Match { options, invert }
}

#[test]
fn files_go_through_the_steps_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("a.log"), b"ok\nERROR here\n").unwrap();
    fs::write(root.join("b.log"), b"ok\n").unwrap();
    fs::write(root.join("c.bin"), b"\0ERROR\n").unwrap(); // searched up to its NUL, as rg
    let sel = Selection::new(vec![root.to_path_buf()]);
    let steps = [matching("ERROR", false), Step::Hash { algorithm: Algorithm::Sha256 }];
    let (summary, rows) = run(&sel, &steps).unwrap();
    assert_eq!(
        rows,
        vec![PipelineRow {
            path: root.join("a.log"),
            size: 14,
            digest: Some("f8ddc6be453b18515fcd27f15716c1453bc1e9d0127fe87e353ad79c2fa4b805".into()),
            valid: None,
            problem: None,
        }]
    );
    assert_eq!((summary.files, summary.rows, summary.bytes), (3, 1, 14));
    assert_eq!(summary.steps, vec![(3, 1), (1, 1)]);

    let (summary, rows) = run(&sel, &[matching("ERROR", true)]).unwrap();
    let names: Vec<PathBuf> =
        rows.iter().map(|r| r.path.strip_prefix(root).unwrap().into()).collect();
    assert_eq!(names, vec![PathBuf::from("b.log"), PathBuf::from("c.bin")]);
    assert!(rows.iter().all(|r| r.digest.is_none()));
    assert_eq!(summary.steps, vec![(3, 2)]);
}

#[test]
fn a_bad_pattern_names_its_step_before_the_walk() {
    let steps = [Step::Hash { algorithm: Algorithm::Blake3 }, matching("(", false)];
    let err = check_steps(&steps).unwrap_err();
    assert!(
        matches!(&err, CoreError::InvalidPattern(m) if m.starts_with("step 2: regex parse error"))
    );
    let sel = Selection::new(vec![PathBuf::from("/nonexistent-root")]);
    assert!(matches!(run(&sel, &steps), Err(CoreError::InvalidPattern(_))));
}
