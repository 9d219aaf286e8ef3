//! Building the guest kernel with pinned flags, so the ROM's bytes depend on the source and the
//! pinned toolchain only — not on the build directory, the user, the time or the machine:
//!
//! * `cargo build -p fcc-guest --target x86_64-unknown-none --release` (the workspace's release
//!   profile: LTO, one codegen unit, `panic = "abort"`), in its own target directory
//!   (`target/guest`) so host builds are not invalidated;
//! * `CARGO_ENCODED_RUSTFLAGS` for that invocation only (it replaces RUSTFLAGS and any
//!   `build.rustflags` config): [`RUSTFLAGS`] plus `--remap-path-prefix` for the workspace and
//!   `$CARGO_HOME`, so the paths panic messages carry are `/fcc/...` and `/cargo/...`, and for
//!   the toolchain's rust-src, mapped back to the `/rustc/<commit>` the precompiled std uses.
//!
//! The linker script gives the ELF fixed addresses; [`crate::rom::from_elf`] takes only the
//! load segments' bytes, so symbols and debug sections never reach the ROM.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::rom::{self, Rom};

/// The kernel's target.
pub const TARGET: &str = "x86_64-unknown-none";
/// The kernel's package.
pub const PACKAGE: &str = "fcc-guest";
/// Target directory of the guest build, relative to the workspace.
pub const TARGET_DIR: &str = "target/guest";
/// Where `build` writes the ROM, relative to the workspace.
pub const ROM_PATH: &str = "target/fcc-guest.rom";

/// Flags pinned for the guest, besides the path remapping. The two `--cfg`s repeat
/// `.cargo/config.toml`'s (which `CARGO_ENCODED_RUSTFLAGS` replaces): the guest target has no
/// SSE, so the AES-GCM crates (fcc-cvm-abi's guest messages) must use their software back ends.
pub const RUSTFLAGS: &[&str] = &[
    "-Crelocation-model=static",
    "-Ccodegen-units=1",
    "-Cdebuginfo=0",
    "--cfg",
    "aes_force_soft",
    "--cfg",
    "polyval_force_soft",
];

/// What the paths are replaced with.
const WORKSPACE_REMAP: &str = "/fcc";
const CARGO_HOME_REMAP: &str = "/cargo";

/// The workspace root (this crate is `<workspace>/image-build`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("image-build has a parent directory").to_path_buf()
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
}

/// The toolchain's standard-library sources and the path the precompiled standard library
/// names them by (`/rustc/<commit hash>`). Generic std code instantiated in our crates would
/// otherwise carry the local rust-src path (e.g. `~/.rustup/toolchains/...`) into panic
/// locations.
pub fn rust_src(workspace: &Path) -> Result<(PathBuf, String)> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let run = |args: &[&str]| -> Result<String> {
        let out = Command::new(&rustc).current_dir(workspace).args(args).output().context("running rustc")?;
        if !out.status.success() {
            bail!("rustc {} failed", args.join(" "));
        }
        Ok(String::from_utf8(out.stdout)?)
    };
    let sysroot = PathBuf::from(run(&["--print", "sysroot"])?.trim());
    let version = run(&["-vV"])?;
    let hash = version
        .lines()
        .find_map(|l| l.strip_prefix("commit-hash: "))
        .context("no commit-hash in rustc -vV")?
        .trim()
        .to_string();
    Ok((sysroot.join("lib/rustlib/src/rust"), format!("/rustc/{hash}")))
}

/// The flags passed to rustc for the guest (as `CARGO_ENCODED_RUSTFLAGS`, 0x1f-separated).
pub fn rustflags(workspace: &Path, rust_src: Option<(PathBuf, String)>) -> Vec<String> {
    rustflags_with(RUSTFLAGS, workspace, rust_src)
}

/// `base` and the path remapping of the workspace, `$CARGO_HOME` and the standard library's
/// sources (the ROM's and the UEFI edition's builds).
pub fn rustflags_with(base: &[&str], workspace: &Path, rust_src: Option<(PathBuf, String)>) -> Vec<String> {
    let mut flags: Vec<String> = base.iter().map(|f| f.to_string()).collect();
    let mut remaps = vec![(workspace.to_path_buf(), WORKSPACE_REMAP.to_string())];
    if let Some(home) = cargo_home() {
        remaps.push((home, CARGO_HOME_REMAP.to_string()));
    }
    remaps.extend(rust_src);
    // rustc applies the last matching --remap-path-prefix: list the longer, more specific
    // prefixes last (e.g. $CARGO_HOME inside the workspace, rust-src inside $HOME).
    remaps.sort_by_key(|(from, _)| from.as_os_str().len());
    for (from, to) in remaps {
        flags.push(format!("--remap-path-prefix={}={to}", from.display()));
    }
    flags
}

/// `cargo build --release` of a guest `package` for `target` with `base` flags and the path
/// remapping, in the guests' own target directory; returns the release output directory.
/// `what` names the build in errors (`hint`: what to check when it fails).
pub fn build_guest(
    workspace: &Path,
    package: &str,
    target: &str,
    base: &[&str],
    what: &str,
    hint: &str,
) -> Result<PathBuf> {
    build_guest_with(workspace, package, target, base, &[], what, hint)
}

/// [`build_guest`] with the compute extensions `extensions` compiled in (the guest package's
/// features of those names; [`check_extensions`] first).
pub fn build_guest_with(
    workspace: &Path,
    package: &str,
    target: &str,
    base: &[&str],
    extensions: &[String],
    what: &str,
    hint: &str,
) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = workspace.join(TARGET_DIR);
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--locked", "-p", package, "--target", target, "--release", "--target-dir"])
        .arg(&target_dir);
    if !extensions.is_empty() {
        check_extensions(extensions)?;
        cmd.args(["--features", &extensions.join(",")]);
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", rustflags_with(base, workspace, Some(rust_src(workspace)?)).join("\u{1f}"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    let features = if extensions.is_empty() { String::new() } else { format!(" --features {}", extensions.join(",")) };
    eprintln!("fcc-image: cargo build -p {package} --target {target} --release{features} --target-dir {TARGET_DIR}");
    let status = cmd.status().context("running cargo")?;
    if !status.success() {
        bail!("building {what} failed ({status}{hint})");
    }
    Ok(target_dir.join(target).join("release"))
}

/// Fails unless every name is a compute extension of this workspace (`fcc-extensions`), each
/// once, in the order that list gives (so one set of extensions has one name and one ROM path).
pub fn check_extensions(extensions: &[String]) -> Result<()> {
    let known = fcc_extensions::names();
    let mut last = None;
    for name in extensions {
        let Some(at) = known.iter().position(|k| k == name) else {
            bail!("no compute extension {name:?} (there are: {})", known.join(", "));
        };
        if last.is_some_and(|l| at <= l) {
            bail!("extensions are listed once each, in this order: {}", known.join(", "));
        }
        last = Some(at);
    }
    Ok(())
}

/// Where `build` writes the ROM with `extensions`, relative to the workspace: [`ROM_PATH`]
/// without any, `target/fcc-guest+a+b.rom` with `a` and `b`.
pub fn rom_path(extensions: &[String]) -> String {
    if extensions.is_empty() {
        return ROM_PATH.to_string();
    }
    format!("target/fcc-guest+{}.rom", extensions.join("+"))
}

/// Builds the kernel ELF and returns its path.
pub fn build_kernel(workspace: &Path) -> Result<PathBuf> {
    build_kernel_with(workspace, &[])
}

/// Builds the kernel ELF with `extensions` and returns its path.
pub fn build_kernel_with(workspace: &Path, extensions: &[String]) -> Result<PathBuf> {
    Ok(build_guest_with(workspace, PACKAGE, TARGET, RUSTFLAGS, extensions, "the guest kernel", "")?.join(PACKAGE))
}

/// Builds the kernel and its ROM, writes the ROM to `out`, and returns it.
pub fn build_rom(workspace: &Path, out: &Path) -> Result<Rom> {
    build_rom_with(workspace, out, &[])
}

/// [`build_rom`] with the compute extensions `extensions` compiled in: its own measurement,
/// registered as its own code version.
pub fn build_rom_with(workspace: &Path, out: &Path, extensions: &[String]) -> Result<Rom> {
    let elf_path = build_kernel_with(workspace, extensions)?;
    let elf = std::fs::read(&elf_path).with_context(|| format!("reading {}", elf_path.display()))?;
    let rom = rom::from_elf(&elf).with_context(|| format!("making the ROM from {}", elf_path.display()))?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, &rom.bytes).with_context(|| format!("writing {}", out.display()))?;
    Ok(rom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_remap_the_workspace() {
        let src = (PathBuf::from("/some/where/toolchain/lib/rustlib/src/rust"), "/rustc/abc".to_string());
        let flags = rustflags(Path::new("/some/where"), Some(src));
        let ws = flags.iter().position(|f| f == "--remap-path-prefix=/some/where=/fcc").unwrap();
        let std =
            flags.iter().position(|f| f == "--remap-path-prefix=/some/where/toolchain/lib/rustlib/src/rust=/rustc/abc");
        assert!(std.unwrap() > ws, "the more specific prefix must come last");
        assert!(flags.iter().any(|f| f == "-Crelocation-model=static"));
        assert!(flags.iter().all(|f| !f.contains('\u{1f}')));
    }

    #[test]
    fn extension_sets_are_named_once() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        check_extensions(&names(&["data-integrity", "attested-query"])).unwrap();
        check_extensions(&names(&["template"])).unwrap();
        check_extensions(&[]).unwrap();
        assert!(check_extensions(&names(&["nope"])).is_err());
        assert!(check_extensions(&names(&["attested-query", "data-integrity"])).is_err(), "order");
        assert!(check_extensions(&names(&["template", "template"])).is_err());
        assert_eq!(rom_path(&[]), ROM_PATH);
        assert_eq!(
            rom_path(&names(&["data-integrity", "attested-query"])),
            "target/fcc-guest+data-integrity+attested-query.rom"
        );
    }
}
