//! The docs name real files: every `file.rs` in an ARCHITECTURE.md code map
//! exists in the crate the map is about, and every `crates/...` path in the
//! README's concept table exists. (Moving code without moving its map is
//! how a newcomer gets lost.)

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files_under(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The backquoted `*.rs` names of a text.
fn rust_files(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).filter(|s| s.ends_with(".rs") && !s.contains(' ')).collect()
}

#[test]
fn code_maps_name_files_that_exist_in_their_crate() {
    let doc = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut missing = Vec::new();
    let mut maps = 0;
    for section in doc.split("\n## ").skip(1) {
        let Some(title) = section.lines().next().and_then(|l| l.strip_prefix("Code map: ")) else { continue };
        maps += 1;
        // "kubelet-lite and the lab" is about the kubelet-lite crate.
        let krate = title.split_whitespace().next().unwrap_or_default();
        let mut files = Vec::new();
        files_under(&repo().join("crates").join(krate), &mut files);
        assert!(!files.is_empty(), "code map {title:?}: no crate crates/{krate}");
        for name in rust_files(section) {
            if !files.iter().any(|f| f.ends_with(&format!("/{name}"))) {
                missing.push(format!("{title}: {name}"));
            }
        }
    }
    assert!(maps >= 5, "found only {maps} code maps");
    assert!(missing.is_empty(), "ARCHITECTURE.md names files that are not in their crate: {missing:#?}");
}

#[test]
fn the_readme_concept_table_names_files_that_exist() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let paths: Vec<&str> = readme.split('`').skip(1).step_by(2).filter(|s| s.starts_with("crates/")).collect();
    assert!(paths.len() > 10, "the concept table names {} paths", paths.len());
    let missing: Vec<&&str> = paths.iter().filter(|p| !repo().join(p).exists()).collect();
    assert!(missing.is_empty(), "README.md names paths that do not exist: {missing:?}");
}

/// The Dockerfile builds the dependencies in a layer of their own from the
/// crates' manifests, one `COPY` line each: a crate added to the workspace
/// and not to that list would fail the image's build.
#[test]
fn the_dockerfile_copies_every_crates_manifest() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let mut crates: Vec<String> = std::fs::read_dir(repo().join("crates"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    let listed: Vec<String> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("COPY crates/")?.strip_suffix("/")?.split_once("/Cargo.toml crates/"))
        .filter(|(from, to)| from == to)
        .map(|(name, _)| name.to_string())
        .collect();
    assert_eq!(listed, crates, "the Dockerfile's manifest COPY lines, in order, against crates/*");
}
