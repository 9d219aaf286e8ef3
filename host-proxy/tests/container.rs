//! The proxy's container image (`deploy/build-image.sh`), built with Debian's buildah from
//! nothing pulled: exported as an OCI layout, it must hold exactly the binary, the libraries
//! and loader it links, the CA roots and the state directory; its root file system alone must
//! run the proxy (chroot, as the image's unprivileged user) to a healthy API on SQLite in the
//! state directory; and two builds must be the same image. The compose file's services must
//! use what the image and the proxy provide. SKIPPED without buildah — a failure with
//! `FCC_REQUIRE_BUILDAH=1`, as in CI.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn buildah_or_skip(test: &str) -> bool {
    let found = Command::new("buildah").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("FCC_REQUIRE_BUILDAH").as_deref() != Ok("1"),
            "FCC_REQUIRE_BUILDAH=1 but buildah is not installed"
        );
        println!("SKIPPED: {test} (no buildah; apt-get install buildah)");
    }
    found
}

/// Builds the image into a private store under `dir` and exports it as an OCI layout; returns
/// the image id and the layout's directory.
fn build(dir: &Path, name: &str) -> (String, PathBuf) {
    let opts = format!(
        "--root {} --runroot {} --storage-driver vfs",
        dir.join("storage").display(),
        dir.join("run").display()
    );
    let tag = format!("localhost/fcc-proxy-test:{name}");
    run(Command::new(deploy().join("build-image.sh"))
        .arg(env!("CARGO_BIN_EXE_fcc-proxy"))
        .arg(&tag)
        .env("BUILDAH_OPTS", &opts));
    let id =
        run(Command::new("buildah").args(opts.split(' ')).args(["images", "--noheading", "--format", "{{.ID}}", &tag]));
    let layout = dir.join(format!("oci-{name}"));
    run(Command::new("buildah")
        .args(opts.split(' '))
        .args(["push", "--quiet", &tag])
        .arg(format!("oci:{}", layout.display())));
    // (Both builds' tags list the image once each: its id is the same, or the test fails.)
    (id.lines().next().unwrap_or_default().to_owned(), layout)
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn the_image_holds_the_proxy_alone_and_its_root_runs_it() {
    if !buildah_or_skip("the_image_holds_the_proxy_alone_and_its_root_runs_it") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (id, layout) = build(dir.path(), "a");
    let (again, _) = build(dir.path(), "b");
    assert_eq!(id, again, "the same binary and libraries give the same image");

    let index = json(&layout.join("index.json"));
    let manifest = json(&blob(&layout, index["manifests"][0]["digest"].as_str().unwrap()));
    let config = json(&blob(&layout, manifest["config"]["digest"].as_str().unwrap()));
    let c = &config["config"];
    assert_eq!(c["Entrypoint"], serde_json::json!(["/usr/local/bin/fcc-proxy"]));
    assert_eq!((c["User"].as_str(), c["WorkingDir"].as_str()), (Some("65532:65532"), Some("/var/lib/fcc-proxy")));
    let ports: BTreeSet<&str> = c["ExposedPorts"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(ports, BTreeSet::from(["6660/tcp", "6661/tcp"]));
    assert_eq!(config["created"].as_str(), Some("1970-01-01T00:00:00Z"));

    // The files: the binary, what it links, the CA roots, the state directory — nothing else.
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    for layer in manifest["layers"].as_array().unwrap() {
        run(Command::new("tar")
            .arg("-xf")
            .arg(blob(&layout, layer["digest"].as_str().unwrap()))
            .arg("-C")
            .arg(&rootfs));
    }
    let files: BTreeSet<String> = walkdir(&rootfs).into_iter().collect();
    let mut expected: BTreeSet<String> =
        ["usr/local/bin/fcc-proxy", "etc/ssl/certs/ca-certificates.crt"].iter().map(|s| s.to_string()).collect();
    let ldd = run(Command::new("ldd").arg(env!("CARGO_BIN_EXE_fcc-proxy")));
    for line in ldd.lines() {
        let path = line.split_whitespace().find(|w| w.starts_with('/'));
        expected.extend(path.map(|p| p.trim_start_matches('/').to_string()));
    }
    assert_eq!(files, expected, "the image's files");
    assert!(!rootfs.join("bin/sh").exists() && !rootfs.join("usr/bin").exists(), "no shell, no tools");

    // Its root alone runs the proxy, as the image's user, on SQLite in the state directory.
    if !Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n")) {
        println!("SKIPPED: running the image's root (chroot needs root)");
        return;
    }
    let state = rootfs.join("var/lib/fcc-proxy");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&state).unwrap();
    assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o777), (65532, 65532, 0o700), "the state directory");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut proxy = Command::new("chroot")
        .args(["--userspec=65532:65532"])
        .arg(&rootfs)
        .args(["/usr/local/bin/fcc-proxy", "--http", &format!("127.0.0.1:{port}"), "--link", "127.0.0.1:0"])
        // chroot cannot enter the image's working directory: its default database, named.
        .args(["--database", "sqlite:///var/lib/fcc-proxy/fcc-proxy.db"])
        .env_clear()
        // For finding chroot here; the image has no PATH to search.
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("FCC_PROXY_KEY", format!("0x{}", "5c".repeat(32)))
        .current_dir("/")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let healthy = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            s.write_all(b"GET /healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            break answer;
        }
        if Instant::now() > deadline || proxy.try_wait().unwrap().is_some() {
            break String::new();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = proxy.kill();
    let out = proxy.wait_with_output().unwrap();
    assert!(
        healthy.starts_with("HTTP/1.1 200"),
        "no healthy API: {healthy:?}; {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(state.join("fcc-proxy.db").exists(), "the database, in the state directory");
}

fn walkdir(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// The compose file (checked by Python's YAML parser, not ours): the proxy's image is the one
/// build-image.sh makes, its settings come from a configuration file among its secrets, every
/// FCC_PROXY_* name it sets is one the proxy reads, and the link and metrics stay on the host.
#[test]
fn the_compose_file_uses_what_the_image_and_the_proxy_provide() {
    let compose = deploy().join("compose.yaml");
    let out = run(Command::new("python3")
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"])
        .arg(&compose));
    let c: Value = serde_json::from_str(&out).unwrap();
    let proxy = &c["services"]["proxy"];
    let script = std::fs::read_to_string(deploy().join("build-image.sh")).unwrap();
    assert!(script.contains("tag=${2:-localhost/fcc-proxy:latest}"));
    assert_eq!(proxy["image"], "localhost/fcc-proxy:latest", "the image build-image.sh tags");
    let config_rs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config.rs")).unwrap();
    for (name, value) in proxy["environment"].as_object().unwrap() {
        if name.starts_with("FCC_PROXY_") {
            assert!(config_rs.contains(&format!("env = \"{name}\"")), "{name} is not a setting of the proxy");
        }
        if name == "FCC_PROXY_CONFIG" {
            let file = value.as_str().unwrap().strip_prefix("/run/secrets/").expect("the configuration is a secret");
            assert!(proxy["secrets"].as_array().unwrap().iter().any(|s| s == file), "{file}");
            assert!(c["secrets"][file]["file"].is_string(), "{file}");
        }
    }
    let ports: Vec<&str> = proxy["ports"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(ports.contains(&"127.0.0.1:6661:6661"), "the guest link stays on the host: {ports:?}");
    assert!(ports.iter().all(|p| !p.ends_with(":6662") || p.starts_with("127.0.0.1:")), "metrics stay on the host");
    assert_eq!(proxy["depends_on"]["postgres"]["condition"], "service_healthy");
}
