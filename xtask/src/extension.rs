//! `cargo xtask extension new NAME`: a new compute extension from `extensions/template`, wired
//! into the workspace, the image's extension set (`extensions/set`) and the guest editions'
//! features — ready to build (`fcc-image build --extensions NAME`), test and run on the devnet
//! (`cargo xtask devnet --extensions NAME`). docs/EXTENSIONS.md walks through it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};

/// The template's files, relative to `extensions/template`.
const TEMPLATE_FILES: [&str; 3] = ["Cargo.toml", "src/lib.rs", "tests/sign.rs"];
/// The line of `extensions/set/src/lib.rs` new extensions go above, in the list and the examples.
const LIST_MARKER: &str = "    // new extensions: above this line (cargo xtask extension new)";
const EXAMPLES_MARKER: &str = "        // new extensions' examples: above this line (cargo xtask extension new)";

/// A new extension's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// `my-ext`: the directory, the feature, `Extension::name`.
    pub name: String,
    /// `my_ext`: the crate's path in Rust.
    pub snake: String,
    /// `MY_EXT`: its operation type and signing domain.
    pub upper: String,
    /// `MyExt`: its type.
    pub camel: String,
}

impl Names {
    /// Checks `name`: 2 to 24 of `a-z`, `0-9`, `-`, starting with a letter, no `--`, not ending in
    /// `-`, and its operation type not Flare's (`F_…`).
    pub fn new(name: &str) -> Result<Self> {
        ensure!(
            (2..=24).contains(&name.len())
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !name.contains("--")
                && !name.ends_with('-'),
            "{name:?}: 2 to 24 of a-z, 0-9 and single dashes, starting with a letter"
        );
        ensure!(name != "f" && !name.starts_with("f-"), "{name:?}: F_ operation types are Flare's");
        ensure!(!["template", "set", "sdk", "fuzz"].contains(&name), "{name:?} is taken");
        let snake = name.replace('-', "_");
        let camel = name
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
            })
            .collect();
        Ok(Self { name: name.to_string(), upper: snake.to_ascii_uppercase(), snake, camel })
    }
}

/// A template file made the new extension's.
pub fn from_template(text: &str, n: &Names) -> String {
    text.replace("fcc_ext_template", &format!("fcc_ext_{}", n.snake))
        .replace("fcc-ext-template", &format!("fcc-ext-{}", n.name))
        .replace("TEMPLATE", &n.upper)
        .replace("Template", &n.camel)
        .replace("template", &n.name)
}

/// Inserts `line` before the first line that is exactly `marker`.
fn insert_before(text: &str, marker: &str, line: &str) -> Result<String> {
    let at = text.find(&format!("{marker}\n")).with_context(|| format!("no line {marker:?}"))?;
    Ok(format!("{}{line}\n{}", &text[..at], &text[at..]))
}

/// The workspace manifest with the new member after `extensions/template` (in both lists).
pub fn workspace_manifest(text: &str, n: &Names) -> Result<String> {
    let template = "    \"extensions/template\",\n";
    ensure!(
        text.matches(template).count() == 2,
        "the workspace lists extensions/template twice (members, default-members)"
    );
    Ok(text.replace(template, &format!("{template}    \"extensions/{}\",\n", n.name)))
}

/// `extensions/set/Cargo.toml` with the new extension's feature and optional dependency.
pub fn set_manifest(text: &str, n: &Names) -> Result<String> {
    let text = insert_before(
        text,
        "# Every extension of the workspace (the proxy: it admits what any image may serve).",
        &format!("{} = [\"dep:fcc-ext-{}\"]", n.name, n.name),
    )?;
    let all = text.lines().find(|l| l.starts_with("all = [")).context("no `all` feature")?.to_string();
    let text = text.replace(&all, &all.replacen(']', &format!(", \"{}\"]", n.name), 1));
    let dep = "fcc-ext-template = { path = \"../template\", version = \"0.1.0\", optional = true }";
    ensure!(text.contains(dep), "no optional dependency on the template");
    Ok(text.replacen(
        dep,
        &format!("{dep}\nfcc-ext-{0} = {{ path = \"../{0}\", version = \"0.1.0\", optional = true }}", n.name),
        1,
    ))
}

/// `extensions/set/src/lib.rs` listing the new extension and its examples.
pub fn set_list(text: &str, n: &Names) -> Result<String> {
    let text = insert_before(
        text,
        LIST_MARKER,
        &format!("    #[cfg(feature = \"{}\")]\n    &fcc_ext_{}::EXTENSION,", n.name, n.snake),
    )?;
    insert_before(
        &text,
        EXAMPLES_MARKER,
        &format!("        #[cfg(feature = \"{0}\")]\n        \"{0}\" => fcc_ext_{1}::examples(),", n.name, n.snake),
    )
}

/// A guest edition's manifest with the feature that compiles the new extension in.
pub fn guest_manifest(text: &str, n: &Names) -> Result<String> {
    let line = "template = [\"fcc-extensions/template\"]";
    ensure!(text.contains(line), "no template feature");
    Ok(text.replacen(line, &format!("{line}\n{0} = [\"fcc-extensions/{0}\"]", n.name), 1))
}

/// Creates `extensions/NAME` in the workspace at `root` and wires it in.
pub fn new(root: &Path, name: &str) -> Result<PathBuf> {
    let n = Names::new(name)?;
    let dir = root.join("extensions").join(&n.name);
    if dir.exists() {
        bail!("{} exists", dir.display());
    }
    let template = root.join("extensions/template");
    let mut writes: Vec<(PathBuf, String)> = Vec::new();
    for file in TEMPLATE_FILES {
        let text = std::fs::read_to_string(template.join(file)).with_context(|| format!("template {file}"))?;
        writes.push((dir.join(file), from_template(&text, &n)));
    }
    let edit = |path: &str, f: &dyn Fn(&str, &Names) -> Result<String>| -> Result<(PathBuf, String)> {
        let path = root.join(path);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok((path.clone(), f(&text, &n).with_context(|| format!("editing {}", path.display()))?))
    };
    // Every edit is computed before anything is written: a workspace that does not look as
    // expected is left as it was.
    writes.push(edit("Cargo.toml", &workspace_manifest)?);
    writes.push(edit("extensions/set/Cargo.toml", &set_manifest)?);
    writes.push(edit("extensions/set/src/lib.rs", &set_list)?);
    writes.push(edit("guest/kernel/Cargo.toml", &guest_manifest)?);
    writes.push(edit("guest/uefi/Cargo.toml", &guest_manifest)?);
    for (path, text) in writes {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    fn read(path: &str) -> String {
        std::fs::read_to_string(root().join(path)).unwrap()
    }

    #[test]
    fn names_are_checked_and_spelled_every_way() {
        let n = Names::new("my-ext2").unwrap();
        assert_eq!((n.snake.as_str(), n.upper.as_str(), n.camel.as_str()), ("my_ext2", "MY_EXT2", "MyExt2"));
        for bad in ["", "a", "My-ext", "2ext", "my--ext", "my-ext-", "my_ext", "f-thing", "template", &"x".repeat(25)] {
            assert!(Names::new(bad).is_err(), "{bad:?}");
        }
    }

    /// The edits against this workspace's own files: each lands where it must, once.
    #[test]
    fn the_workspace_files_take_the_edits() {
        let n = Names::new("proof-of-x").unwrap();
        let ws = workspace_manifest(&read("Cargo.toml"), &n).unwrap();
        assert_eq!(ws.matches("\"extensions/proof-of-x\",").count(), 2);
        let set = set_manifest(&read("extensions/set/Cargo.toml"), &n).unwrap();
        assert!(set.contains("proof-of-x = [\"dep:fcc-ext-proof-of-x\"]\n# Every extension"));
        assert!(set.contains("\"template\", \"proof-of-x\"]"), "{set}");
        assert!(
            set.contains("fcc-ext-proof-of-x = { path = \"../proof-of-x\", version = \"0.1.0\", optional = true }")
        );
        let list = set_list(&read("extensions/set/src/lib.rs"), &n).unwrap();
        assert!(list.contains(
            "    #[cfg(feature = \"proof-of-x\")]\n    &fcc_ext_proof_of_x::EXTENSION,\n    // new extensions"
        ));
        assert!(
            list.contains("\"proof-of-x\" => fcc_ext_proof_of_x::examples(),\n        // new extensions' examples")
        );
        for guest in ["guest/kernel/Cargo.toml", "guest/uefi/Cargo.toml"] {
            let g = guest_manifest(&read(guest), &n).unwrap();
            assert!(g.contains("proof-of-x = [\"fcc-extensions/proof-of-x\"]"), "{guest}");
        }
        let lib = from_template(&read("extensions/template/src/lib.rs"), &n);
        assert!(lib.contains("name(\"PROOF_OF_X\")") && lib.contains("pub struct ProofOfX;"));
        assert!(lib.contains("\"proof-of-x\"") && !lib.contains("emplate"), "every spelling replaced");
        let manifest = from_template(&read("extensions/template/Cargo.toml"), &n);
        assert!(manifest.contains("name = \"fcc-ext-proof-of-x\""));
        let test = from_template(&read("extensions/template/tests/sign.rs"), &n);
        assert!(test.contains("use fcc_ext_proof_of_x::"));
    }

    #[test]
    fn a_workspace_that_looks_otherwise_is_left_alone() {
        let n = Names::new("other").unwrap();
        assert!(workspace_manifest("[workspace]\nmembers = []\n", &n).is_err());
        assert!(set_list("no markers here\n", &n).is_err());
        assert!(guest_manifest("[features]\n", &n).is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(new(dir.path(), "other").is_err());
        assert!(!dir.path().join("extensions/other").exists(), "nothing written");
    }
}
