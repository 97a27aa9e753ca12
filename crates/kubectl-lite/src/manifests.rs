//! Manifests from `-f`: files, directories (their `.yaml`, `.yml` and
//! `.json` files; with `-R`, their subdirectories too) and `-` for stdin;
//! each file may hold several YAML documents, or JSON. Parsing is a pure
//! function of the text ([`parse`]), so malformed input can be fed to it
//! directly (see the property test): it returns an error, never panics.

use crate::error::CliError;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One object and the file it came from (kubectl names it in errors).
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub source: String,
    pub object: Value,
}

/// The objects in `text` (from `source`): YAML documents or JSON. An
/// object needs `apiVersion` and `kind`, as kubectl requires.
pub fn parse(text: &str, source: &str) -> Result<Vec<Manifest>, CliError> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v: Value = serde::Deserialize::deserialize(doc)
            .map_err(|e| CliError::Parse { file: source.to_string(), source: e })?;
        match &v {
            Value::Null => continue,
            Value::Object(m) => {
                // A `kind: List` holds its objects in `items`.
                if m.get("kind").and_then(Value::as_str) == Some("List") {
                    for item in m.get("items").and_then(Value::as_array).into_iter().flatten() {
                        out.push(checked(item.clone(), source)?);
                    }
                    continue;
                }
                out.push(checked(v, source)?);
            }
            _ => {
                return Err(CliError::Invalid { file: source.to_string(), detail: "invalid object: not a map".into() })
            }
        }
    }
    Ok(out)
}

fn checked(object: Value, source: &str) -> Result<Manifest, CliError> {
    for field in ["apiVersion", "kind"] {
        if object.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(CliError::Invalid { file: source.to_string(), detail: format!("{field} not set") });
        }
    }
    Ok(Manifest { source: source.to_string(), object })
}

fn is_manifest_file(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// The files `path` names: itself, or a directory's manifest files (sorted,
/// as kubectl visits them), recursing with `recursive`.
fn files(path: &Path, recursive: bool, top: bool, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !path.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    if !top && !recursive {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            files(&e, recursive, false, out)?;
        } else if is_manifest_file(&e) {
            out.push(e);
        }
    }
    Ok(())
}

/// Reads every `-f` argument.
pub fn read(paths: &[String], recursive: bool) -> Result<Vec<Manifest>, CliError> {
    let mut out = Vec::new();
    for path in paths {
        if path == "-" {
            let text = std::io::read_to_string(std::io::stdin()).map_err(CliError::Stdin)?;
            out.extend(parse(&text, "STDIN")?);
            continue;
        }
        if !Path::new(path).exists() {
            return Err(CliError::Other(format!("the path \"{path}\" does not exist")));
        }
        let mut found = Vec::new();
        files(Path::new(path), recursive, true, &mut found)
            .map_err(|e| CliError::Read { path: path.clone(), source: e })?;
        for f in found {
            let source = f.to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&f).map_err(|e| CliError::Read { path: source.clone(), source: e })?;
            out.extend(parse(&text, &source)?);
        }
    }
    if out.is_empty() {
        return Err(CliError::Other("no objects passed to apply".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn documents_lists_and_json() {
        let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: b}}\n";
        let names: Vec<String> = parse(yaml, "x.yaml")
            .unwrap()
            .iter()
            .map(|m| m.object["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(parse(r#"{"apiVersion":"v1","kind":"Service"}"#, "x.json").unwrap().len(), 1);
    }

    #[test]
    fn errors_say_where() {
        let e = parse("apiVersion: v1\nkind: Service\nmetadata: [oops\n", "bad.yaml").unwrap_err().to_string();
        assert!(e.starts_with("error: error parsing bad.yaml: ") && e.contains("line"), "{e}");
        let e = parse("kind: Service\n", "k.yaml").unwrap_err().to_string();
        assert_eq!(e, "error: error validating \"k.yaml\": error validating data: apiVersion not set");
        let e = parse("- 1\n- 2\n", "l.yaml").unwrap_err().to_string();
        assert!(e.contains("invalid object"), "{e}");
    }

    proptest! {
        /// Whatever bytes come in, the parser answers Ok or a kubectl-like
        /// error, and never panics.
        #[test]
        fn any_text_is_parsed_or_refused(text in ".{0,300}") {
            match parse(&text, "fuzz.yaml") {
                Ok(objs) => prop_assert!(objs.iter().all(|m| m.object["kind"].is_string())),
                Err(e) => prop_assert!(e.to_string().starts_with("error: ")),
            }
        }

        /// YAML-shaped input with broken pieces: the same.
        #[test]
        fn yaml_like_fragments(parts in proptest::collection::vec(prop_oneof![
            Just("apiVersion: v1\n"), Just("kind: Service\n"), Just("metadata:\n"), Just("  name: x\n"),
            Just("---\n"), Just("- a\n"), Just("  - [\n"), Just("{\"a\": 1}\n"), Just(": :\n"), Just("\t\n"),
            Just("items: [1, 2]\n"), Just("kind: List\n"), Just("&a *a\n"), Just("!!binary x\n")], 0..12)) {
            let text: String = parts.concat();
            if let Err(e) = parse(&text, "frag.yaml") {
                prop_assert!(e.to_string().starts_with("error: "));
            }
        }
    }
}
