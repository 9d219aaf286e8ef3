//! Tidy: checks on the source tree itself, run with the xtask's unit tests (`cargo test
//! --workspace`): every Rust file opens with a `//!` comment saying what it is for, and no crate
//! has files that import each other in a cycle (each file a room with its doors one way).
//!
//! "File A imports file B" means A names an item of B: `crate::b::…` (also in `use crate::{…}`
//! groups and through `$crate::` in macros), `super::…`/`self::…` outside inline modules, or
//! `b::…` where A declares `mod b;`. A `#[macro_export]` macro counts as defined where its
//! `macro_rules!` is, not at the crate root it is exported to. A file's trailing
//! `#[cfg(test)] mod tests` is not counted: tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Directories never searched for sources.
const SKIP_DIRS: &[&str] = &["target", "node_modules", ".git", "fuzz", "out", "cache", "lib"];

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Every `.rs` file under `dir`, skipping [`SKIP_DIRS`].
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if !SKIP_DIRS.contains(&name.as_str()) {
                    stack.push(p);
                }
            } else if name.ends_with(".rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Whether the first non-blank line of `text` is a `//!` comment.
pub fn has_module_doc(text: &str) -> bool {
    text.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| l.trim_start().starts_with("//!"))
}

/// `text` without comments, string and char literals' contents, and a trailing
/// `#[cfg(test)] mod tests { … }`.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                out.push('"');
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                out.push('"');
                i += 1;
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

/// The module path of `file` relative to the crate's `src` (`a/b.rs` and `a/b/mod.rs` are
/// `a::b`; `lib.rs` and `main.rs` the root, "").
fn module_path(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src").with_extension("");
    let mut parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts.join("::")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The `a::b::c` path starting at `at` in `s` (identifiers joined by `::`).
fn path_at(s: &str, at: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = &s[at..];
    loop {
        let n = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if n == 0 {
            break;
        }
        parts.push(rest[..n].to_string());
        rest = &rest[n..];
        match rest.strip_prefix("::") {
            Some(r) if r.starts_with(is_ident) => rest = r,
            _ => break,
        }
    }
    parts
}

/// The items a `{…}` group starting at `at` (just after `{`) lists, as paths (nested groups
/// flattened to their prefix).
fn group_at(s: &str, at: usize) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut item = String::new();
    for c in s[at..].chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(path_at(item.trim(), 0));
                item.clear();
                continue;
            }
            _ => {}
        }
        if depth == 0 {
            item.push(c);
        }
    }
    out.push(path_at(item.trim(), 0));
    out.into_iter().filter(|p| !p.is_empty()).collect()
}

/// Byte ranges of the inline `mod name { … }` blocks of `s`.
fn inline_modules(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = s[from..].find("mod ") {
        let at = from + i;
        from = at + 4;
        if at > 0 && is_ident(s[..at].chars().last().unwrap_or(' ')) {
            continue;
        }
        let after = &s[at + 4..];
        let name_len = after.find(|c: char| !is_ident(c)).unwrap_or(0);
        let rest = after[name_len..].trim_start();
        if name_len == 0 || !rest.starts_with('{') {
            continue;
        }
        let open = s.len() - rest.len();
        let mut depth = 0;
        for (j, c) in s[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push((open, open + j));
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Every occurrence of `needle` in `s` not preceded by an identifier character or `::`.
fn starts(s: &str, needle: &str) -> Vec<usize> {
    s.match_indices(needle)
        .map(|(i, _)| i)
        .filter(|&i| {
            let before = &s[..i];
            !before.ends_with("::") && !before.chars().last().is_some_and(|c| is_ident(c) || c == '$')
        })
        .collect()
}

/// The file-level import graph of the crate whose sources are under `src`: module path → the
/// module paths it imports.
pub fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files: Vec<(String, String)> = rust_files(src)
        .into_iter()
        // `src/bin/*` are crate roots of their own.
        .filter(|f| !f.strip_prefix(src).is_ok_and(|r| r.starts_with("bin")))
        .map(|f| (module_path(src, &f), code(&std::fs::read_to_string(&f).expect("readable source"))))
        .collect();
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut macros: BTreeMap<String, String> = BTreeMap::new();
    for (m, s) in &files {
        for (i, _) in s.match_indices("#[macro_export]") {
            if let Some(j) = s[i..].find("macro_rules!") {
                let name = path_at(s[i + j + "macro_rules!".len()..].trim_start(), 0);
                if let Some(n) = name.first() {
                    macros.insert(n.clone(), m.clone());
                }
            }
        }
    }
    let join = |base: &str, rest: &[String]| -> Vec<String> {
        base.split("::").filter(|p| !p.is_empty()).map(str::to_string).chain(rest.iter().cloned()).collect()
    };
    let mut graph = BTreeMap::new();
    for (m, s) in &files {
        let inline = inline_modules(s);
        let in_inline = |at: usize| inline.iter().any(|&(a, b)| a < at && at < b);
        let parent = m.rsplit_once("::").map_or("", |(p, _)| p);
        let mut paths: Vec<Vec<String>> = Vec::new();
        for at in starts(s, "crate::") {
            let at = at + "crate::".len();
            let found = if s[at..].starts_with('{') { group_at(s, at + 1) } else { vec![path_at(s, at)] };
            for p in found {
                match p.first().and_then(|n| macros.get(n)) {
                    Some(home) if p.len() == 1 => paths.push(join(home, &p)),
                    _ => paths.push(p),
                }
            }
        }
        for (needle, base) in [("super::", parent), ("self::", m.as_str())] {
            for at in starts(s, needle).into_iter().filter(|&at| !in_inline(at)) {
                let at = at + needle.len();
                let rest = if s[at..].starts_with('{') { group_at(s, at + 1) } else { vec![path_at(s, at)] };
                paths.extend(rest.iter().map(|r| join(base, r)));
            }
        }
        // `mod child;` declarations, then `child::…` paths.
        let children: Vec<String> = modules
            .iter()
            .filter(|c| c.rsplit_once("::").map_or("", |(p, _)| p) == m && !c.is_empty() && *c != m)
            .map(|c| c.rsplit("::").next().expect("a name").to_string())
            .collect();
        for child in &children {
            for at in starts(s, &format!("{child}::")).into_iter().filter(|&at| !in_inline(at)) {
                paths.push(join(m, &path_at(s, at)));
            }
        }
        let mut deps = BTreeSet::new();
        for p in paths {
            let target = (0..=p.len()).rev().map(|k| p[..k].join("::")).find(|c| modules.contains(c));
            if let Some(t) = target
                && t != *m
            {
                deps.insert(t);
            }
        }
        graph.insert(m.clone(), deps);
    }
    graph
}

/// The strongly connected components of more than one module (Tarjan).
pub fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> T<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on.insert(v);
            for w in self.g.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.g.contains_key(w) {
                    continue;
                }
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(w);
                    comp.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.out.push(comp);
                }
            }
        }
    }
    let mut t =
        T { g: graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: vec![], on: BTreeSet::new(), out: vec![] };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `src` directories of the workspace's crates.
    fn crate_sources() -> Vec<PathBuf> {
        let root = workspace_root();
        let mut out: Vec<PathBuf> = rust_files(&root)
            .into_iter()
            .filter(|f| f.file_name().is_some_and(|n| n == "lib.rs" || n == "main.rs"))
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .filter(|d| {
                d.file_name().is_some_and(|n| n == "src") && d.parent().is_some_and(|c| c.join("Cargo.toml").is_file())
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn every_rust_file_opens_with_a_module_doc_comment() {
        let root = workspace_root();
        let files = rust_files(&root);
        assert!(files.len() > 100, "the source tree was not found from {}", root.display());
        let missing: Vec<String> = files
            .iter()
            .filter(|f| !has_module_doc(&std::fs::read_to_string(f).unwrap_or_default()))
            .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
            .collect();
        assert!(
            missing.is_empty(),
            "files without a leading `//!` comment saying what they are for:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn no_crate_has_files_that_import_each_other_in_a_cycle() {
        let sources = crate_sources();
        let names: Vec<String> = sources.iter().map(|s| s.display().to_string()).collect();
        for must in ["guest/core/src", "guest/kernel/src", "host-proxy/src"] {
            assert!(names.iter().any(|n| n.ends_with(must)), "{must} not found among {names:?}");
        }
        let mut found = Vec::new();
        for src in &sources {
            let graph = import_graph(src);
            for comp in cycles(&graph) {
                let edges: Vec<String> = comp
                    .iter()
                    .map(|m| {
                        let to: Vec<&str> = graph[m].iter().filter(|t| comp.contains(t)).map(String::as_str).collect();
                        format!("    {} -> {}", if m.is_empty() { "<root>" } else { m }, to.join(", "))
                    })
                    .collect();
                let at = src.strip_prefix(workspace_root()).unwrap_or(src);
                found.push(format!("{}:\n{}", at.display(), edges.join("\n")));
            }
        }
        assert!(found.is_empty(), "files that import each other in a cycle:\n{}", found.join("\n"));
    }

    /// The checker itself: a cycle through `crate::`, `super::` and a child path is found; an
    /// inline module's `super::`, a comment, a string and a test module are not imports.
    #[test]
    fn the_import_graph_sees_paths_and_nothing_else() {
        let dir = tempfile_dir();
        let src = dir.join("src");
        std::fs::create_dir_all(src.join("a")).unwrap();
        std::fs::write(src.join("lib.rs"), "//! root\nmod a;\nmod b;\nmod c;\n").unwrap();
        std::fs::write(src.join("a/mod.rs"), "//! a\nmod x;\nuse x::Thing;\n").unwrap();
        std::fs::write(src.join("a/x.rs"), "//! x\nuse crate::b::B;\n").unwrap();
        std::fs::write(
            src.join("b.rs"),
            "//! b\n// crate::c::C\nconst S: &str = \"crate::c\";\nmod inner { use super::B; }\nuse crate::{a::Y, c};\n#[cfg(test)]\nmod tests { use crate::c::Z; }\n",
        )
        .unwrap();
        std::fs::write(src.join("c.rs"), "//! c\n").unwrap();
        let g = import_graph(&src);
        assert_eq!(g["a"], BTreeSet::from(["a::x".to_string()]));
        assert_eq!(g["a::x"], BTreeSet::from(["b".to_string()]));
        assert_eq!(g["b"], BTreeSet::from(["a".to_string(), "c".to_string()]));
        assert!(g["c"].is_empty());
        assert_eq!(cycles(&g), vec![vec!["a".to_string(), "a::x".to_string(), "b".to_string()]]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("fcc-tidy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
