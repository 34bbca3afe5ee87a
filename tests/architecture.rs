//! The shape of `src/`, checked: no import cycle between its files, and no file over 600 lines.
//!
//! A file depends on another when it names it by path (`crate::a::b`, `super::x`, `self::y`,
//! or a child module in a `use`); a name re-exported by a `mod.rs` counts as that `mod.rs`.
//! `#[cfg(test)] mod tests` blocks at the end of a file are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: `src/a/b.rs` and `src/a/b/mod.rs` are `[a, b]`.
fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|l| l == "mod" || l == "lib" || l == "main")
    {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its trailing test module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path-like run of `a::b::c` words in `text`, with what precedes it.
fn paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_alphabetic() || chars[i] == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // `a::b::{...}` names its items, not `a::b` itself.
            let group = word.ends_with("::") && chars.get(i) == Some(&'{');
            if word.contains("::") && !group {
                out.push(
                    word.split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
            }
            // `use a::{b, c::d}`: each item after the brace, prefixed.
            if i + 1 < chars.len() && chars[i] == '{' && word.ends_with("::") {
                let end = (i..chars.len())
                    .find(|&j| chars[j] == ';')
                    .unwrap_or(chars.len());
                let inner: String = chars[i + 1..end].iter().collect();
                for item in inner.split([',', '{', '}']) {
                    let item = item.trim().split(" as ").next().unwrap_or_default().trim();
                    if item.is_empty() || item == "self" {
                        continue;
                    }
                    let mut full: Vec<String> = word
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect();
                    full.extend(
                        item.split("::")
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned),
                    );
                    out.push(full);
                }
            }
        } else {
            i += 1;
        }
    }
    out
}

fn graph(root: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut files = Vec::new();
    sources(root, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(root, f), f.clone()))
        .collect();
    let resolve = |parts: &[String]| {
        (1..=parts.len())
            .rev()
            .find_map(|n| modules.get(&parts[..n]).cloned())
    };
    let mut edges = BTreeMap::new();
    for file in &files {
        let text = code(&std::fs::read_to_string(file).unwrap());
        let me = module_of(root, file);
        let children: BTreeSet<String> = text
            .lines()
            .filter_map(|l| {
                let l = l
                    .trim()
                    .trim_start_matches("pub(crate) ")
                    .trim_start_matches("pub ");
                l.strip_prefix("mod ")?.strip_suffix(';').map(str::to_owned)
            })
            .collect();
        let mut deps = BTreeSet::new();
        for path in paths(&text) {
            let base: Vec<String> = match path[0].as_str() {
                "crate" => Vec::new(),
                "self" => me.clone(),
                "super" => {
                    // `super::super::x` climbs once per `super`.
                    let ups = path.iter().take_while(|p| *p == "super").count();
                    let mut full = me[..me.len().saturating_sub(ups)].to_vec();
                    full.extend(path[ups..].iter().cloned());
                    if let Some(target) = resolve(&full).filter(|t| t != file) {
                        deps.insert(target);
                    }
                    continue;
                }
                child if children.contains(child) => {
                    let mut b = me.clone();
                    b.push(child.to_owned());
                    let mut full = b;
                    full.extend(path[1..].iter().cloned());
                    if let Some(target) = resolve(&full).filter(|t| t != file) {
                        deps.insert(target);
                    }
                    continue;
                }
                _ => continue,
            };
            let mut full = base;
            full.extend(path[1..].iter().cloned());
            if let Some(target) = resolve(&full).filter(|t| t != file) {
                deps.insert(target);
            }
        }
        edges.insert(file.clone(), deps);
    }
    edges
}

/// The strongly connected components with more than one file (Tarjan).
fn cycles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct State<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        next: usize,
        found: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a PathBuf) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.edges[v] {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                s.low.entry(v).and_modify(|l| *l = (*l).min(lw));
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                s.low.entry(v).and_modify(|l| *l = (*l).min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn src_has_no_import_cycle() {
    let edges = graph(Path::new("src"));
    let found = cycles(&edges);
    let explained: Vec<Vec<String>> = found
        .iter()
        .map(|component| {
            component
                .iter()
                .flat_map(|a| {
                    edges[a]
                        .iter()
                        .filter(|b| component.contains(b))
                        .map(move |b| format!("{} -> {}", a.display(), b.display()))
                })
                .collect()
        })
        .collect();
    assert!(
        found.is_empty(),
        "import cycles between files: {explained:#?}"
    );
}

#[test]
fn the_checker_finds_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "mod x;\npub use x::X;\n").unwrap();
    std::fs::write(src.join("a/x.rs"), "use crate::b::{Y, Z};\npub struct X;\n").unwrap();
    std::fs::write(src.join("b.rs"), "use crate::a::X;\npub struct Y;\n").unwrap();
    let found = cycles(&graph(src));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].len(), 3, "{found:?}");
}

/// A bug it had: `super::super::x` was read as `super::x`, a false cycle between a file and its
/// parent module.
#[test]
fn the_checker_climbs_once_per_super() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("a/b")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod a;\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "mod b;\nmod rows;\n").unwrap();
    std::fs::write(src.join("a/rows.rs"), "pub struct R;\n").unwrap();
    std::fs::write(src.join("a/b.rs"), "mod c;\nuse c::C;\n").unwrap();
    std::fs::write(
        src.join("a/b/c.rs"),
        "use super::super::rows::R;\npub struct C;\n",
    )
    .unwrap();
    let edges = graph(src);
    assert!(cycles(&edges).is_empty(), "{edges:?}");
    let c = &edges[&src.join("a/b/c.rs")];
    assert!(c.contains(&src.join("a/rows.rs")), "{c:?}");
}

#[test]
fn no_source_file_is_over_600_lines() {
    let mut files = Vec::new();
    sources(Path::new("src"), &mut files);
    sources(Path::new("crates/sandbox/src"), &mut files);
    let long: Vec<(PathBuf, usize)> = files
        .into_iter()
        .map(|f| {
            let n = std::fs::read_to_string(&f).unwrap().lines().count();
            (f, n)
        })
        .filter(|(_, n)| *n > MAX_LINES)
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}
