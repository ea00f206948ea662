//! Running the Python tests, which use the official `twilio` package from a virtual
//! environment created once (under a lock, since tests run in parallel) in the target
//! directory.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The virtual environment's interpreter, creating the environment if needed.
pub fn interpreter() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-venv");
    let python = venv.join("bin").join("python");
    let requirements = repository().join("tests/python/requirements.txt");
    let stamp = venv.join("requirements.installed");
    std::fs::create_dir_all(env!("CARGO_TARGET_TMPDIR")).expect("the target temporary directory");
    let lock = std::fs::File::create(Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-venv.lock"))
        .expect("the venv lock file");
    lock.lock().expect("the venv lock");
    let wanted = std::fs::read_to_string(&requirements).expect("tests/python/requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let system = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
        run(
            Command::new(&system).args(["-m", "venv", "--clear"]).arg(&venv),
            "creating the virtual environment",
        );
        run(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(&requirements),
            "installing tests/python/requirements.txt",
        );
        std::fs::write(&stamp, wanted).expect("the venv stamp");
    }
    python
}

fn run(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `tests/python/<script>` with `env`, failing the test with its output if it fails.
pub async fn run_script(script: &str, env: Vec<(&'static str, String)>) -> String {
    let python = tokio::task::spawn_blocking(interpreter)
        .await
        .expect("the venv task");
    let path = repository().join("tests/python").join(script);
    let output = tokio::process::Command::new(python)
        .arg(&path)
        .envs(env)
        .env_remove("TWILIO_REGION")
        .env_remove("TWILIO_EDGE")
        .output()
        .await
        .unwrap_or_else(|error| panic!("running {script}: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
