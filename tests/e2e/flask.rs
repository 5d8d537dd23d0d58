//! hookwall in front of the real example app, `examples/flask_app.py`, run from the
//! virtualenv that `.ci/run` makes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::support::{github_config, post_github, post_signed, python, root, start};

/// The Flask app as a child process on a free port; killed on drop.
struct Flask {
    child: Child,
    addr: std::net::SocketAddr,
}

impl Flask {
    /// Starts the app and reads the address it listens on.
    fn start() -> Flask {
        let python = python(
            "run `bash .ci/run` once (it makes the virtualenv with Flask), or set \
             HOOKWALL_TEST_PYTHON",
        );
        let mut child = Command::new(&python)
            .arg(root().join("examples/flask_app.py"))
            .args(["--host", "127.0.0.1", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Flask app");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the Flask app: {line:?}"));
        Flask { child, addr }
    }

    /// How many verified deliveries the app has received, by its `/_count`.
    async fn count(&self) -> u64 {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        use tokio::io::AsyncWriteExt;
        stream
            .write_all(b"GET /_count HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let text = crate::support::read_all(&mut stream).await;
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        let digits: String = body.chars().filter(char::is_ascii_digit).collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("no count in {text:?}"))
    }
}

impl Drop for Flask {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn fronts_the_example_flask_app() {
    let flask = Flask::start();
    let hookwall = start(&github_config(flask.addr)).await;
    let body = br#"{"action":"opened","number":42}"#;

    let json = ("content-type", "application/json");
    let res = post_github(&hookwall, body, &[json]).await;
    assert_eq!(res.status(), 401);
    let wrong = ("x-hub-signature-256", "sha256=deadbeef");
    let res = post_github(&hookwall, body, &[wrong]).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        flask.count().await,
        0,
        "a refused request never reaches Flask"
    );

    let res = post_signed(&hookwall, body, &[json]).await;
    assert_eq!(res.status(), 200, "{:?}", res.body);
    let answer = String::from_utf8_lossy(&res.body).into_owned();
    let digest = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(body))
    };
    assert!(
        answer.contains(&digest),
        "Flask saw other bytes than were signed: {answer}"
    );
    assert!(
        answer.contains("\"verified_by\":\"github\"")
            || answer.contains("\"verified_by\": \"github\""),
        "{answer}"
    );
    assert_eq!(flask.count().await, 1);
}
