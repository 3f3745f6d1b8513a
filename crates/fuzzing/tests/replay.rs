//! Replays every committed fuzz input: the seeds each target starts from and every input that
//! once made a target fail (`fuzz/regressions/<target>/`). A regression that fails again
//! fails this test, named with its file.

use std::path::{Path, PathBuf};

use tessera_fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn every_seed_and_regression_passes_its_target() {
    for (name, target) in TARGETS {
        let seeds = inputs(&fuzz_dir().join("seeds").join(name));
        assert!(
            !seeds.is_empty(),
            "target {name} has no seeds in fuzz/seeds/{name}"
        );
        let regressions = inputs(&fuzz_dir().join("regressions").join(name));
        for file in seeds.iter().chain(&regressions) {
            let data = std::fs::read(file).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name} fails on {}", file.display());
        }
        eprintln!(
            "{name}: {} seeds, {} regressions replayed",
            seeds.len(),
            regressions.len()
        );
    }
}

#[test]
fn valid_tokens_and_target_names_pass() {
    // The unchanged valid tokens (edit mode with no edits) verify, which each target asserts.
    for (name, target) in TARGETS {
        target(&[0, 0]);
        target(&[0, 1]);
        target(name.as_bytes());
    }
}
