//! No configuration error shows a secret.
//!
//! Every secret-bearing setting of `customs.toml` (`qfpay.client_key`,
//! `wechat.private_key`, `wechat.apiv3_key`, and `wechat.public_key`, which is
//! read the same way) is fed malformed: syntax errors on its line, wrong
//! types, unterminated strings, inline PEMs over several lines, bad
//! `{ file = … }` / `{ env = … }` forms, unknown keys next to it, values that
//! swallow it, bad content behind a file or a variable. The real `customs`
//! binary runs each case in text and in `--output json` mode; neither stdout
//! nor stderr may hold any 8-byte window of any secret, and the error must
//! still name the key and, when the file itself is at fault, the file, line
//! and column, with a caret diagram.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use customs_sandbox::demo;

/// A QFPay client key (distinctive, so that any fragment of it is noticed).
const QF_KEY: &str = "Qz7Kx9Wp2LmV4rTt8YbN3cJh6GdF0sAe";
/// An APIv3 key: 32 bytes, with non-ASCII characters.
const APIV3: &str = "V3密钥xR9q2Lw8Ez5Ty1Ui4Op7As3D";
/// Another APIv3 key of the right length, all ASCII.
const APIV3_ASCII: &str = "A3k9Lm2Qw8Er5Ty1Ui4Op7As3Df6Gh0J";

/// The merchant private key (a real RSA key: the well-formed cases must pass).
fn private_key() -> String {
    demo::wechat_merchant_private_key_pem().expose().to_owned()
}

/// The WeChat Pay public key: not secret, but read and masked like one.
fn public_key() -> String {
    demo::PUB_KEY_PEM.to_owned()
}

/// The base64 body of a PEM.
fn body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect::<Vec<_>>().join("\n")
}

/// Every byte sequence that must never be printed: each 8-byte window of each
/// secret, of each base64 line of the keys, and of the keys' bodies joined
/// without line breaks.
fn forbidden() -> Vec<Vec<u8>> {
    let mut secrets: Vec<String> = vec![QF_KEY.into(), APIV3.into(), APIV3_ASCII.into()];
    for pem in [private_key(), public_key()] {
        let body = body(&pem);
        secrets.extend(body.lines().map(str::to_owned));
        secrets.push(body.replace('\n', ""));
    }
    let mut windows: Vec<Vec<u8>> =
        secrets.iter().flat_map(|s| s.as_bytes().windows(8).map(<[u8]>::to_vec).collect::<Vec<_>>()).collect();
    windows.sort();
    windows.dedup();
    windows
}

/// The `[qfpay]` table around a `client_key` line (or lines).
fn qfpay(client_key: &str) -> String {
    format!("[qfpay]\napp_code = \"APP1\"\nbase_url = \"http://127.0.0.1:9\"\n{client_key}\nsign_type = \"sha256\"\n")
}

/// The `[wechat]` table around secret lines.
fn wechat(secrets: &str) -> String {
    format!(
        "[wechat]\nmchid = \"1230000109\"\nappid = \"wx1\"\nserial_no = \"ABC\"\nbase_url = \"http://127.0.0.1:9\"\n\
         {secrets}\n"
    )
}

const WX_KEYS: &str = "private_key = { file = \"key.pem\" }\napiv3_key = { env = \"CUSTOMS_TEST_APIV3\" }";

/// One malformed configuration.
struct Case {
    name: &'static str,
    toml: String,
    /// Extra files in the configuration's directory.
    files: Vec<(&'static str, String)>,
    /// Environment variables.
    env: Vec<(&'static str, String)>,
    /// The setting the error must name.
    key: &'static str,
    /// Where the error must point.
    line: Line,
}

/// Where an error must point.
#[derive(Clone, Copy)]
enum Line {
    /// At this line of the file (with a column and a caret diagram).
    At(u64),
    /// At some line of the file (the parser finds a string, array or
    /// inline table left open only where it gives up on it).
    Somewhere,
    /// Not in the file: what a file or variable holds is at fault.
    NotInFile,
}
use Line::{At, NotInFile, Somewhere};

fn case(name: &'static str, toml: String, key: &'static str, line: Line) -> Case {
    Case {
        name,
        toml,
        files: vec![("key.pem", private_key())],
        env: vec![("CUSTOMS_TEST_APIV3", APIV3_ASCII.into())],
        key,
        line,
    }
}

impl Case {
    fn file(mut self, name: &'static str, content: String) -> Self {
        self.files.retain(|(n, _)| *n != name);
        self.files.push((name, content));
        self
    }

    fn env(mut self, name: &'static str, value: String) -> Self {
        self.env.retain(|(n, _)| *n != name);
        self.env.push((name, value));
        self
    }
}

/// Malformations of one inline secret `key = <value>` written on line `line`
/// of `table(…)`: each case has the setting's line replaced.
fn inline_cases(key: &'static str, setting: &str, secret: &str, table: fn(&str) -> String, line: u64) -> Vec<Case> {
    let c = |name, text: String, l| case(name, table(&text), key, At(l));
    let open = |name, text: String| case(name, table(&text), key, Somewhere);
    vec![
        c("unterminated string", format!("{setting} = \"{secret}"), line),
        c("unterminated string with more words", format!("{setting} = \"{secret} and more"), line),
        c("unterminated literal string", format!("{setting} = '{secret}"), line),
        c("mismatched quotes", format!("{setting} = '{secret}\""), line),
        c("text after the value", format!("{setting} = \"{secret}\" {secret}"), line),
        c("unquoted", format!("{setting} = {secret}"), line),
        c("unquoted with base64 padding", format!("{setting} = {secret}+/=="), line),
        c("no equals sign", format!("{setting} \"{secret}\""), line),
        c("bare secret line", format!("{setting} = \"x\"\n{secret}"), line + 1),
        c("invalid escape", format!("{setting} = \"{secret}\\q\""), line),
        c("control character", format!("{setting} = \"{secret}\u{1}\""), line),
        c("an array", format!("{setting} = [\"{secret}\"]"), line),
        c("an unknown key in its table", format!("{setting} = {{ value = \"{secret}\" }}"), line),
        c("a secret as the key of its table", format!("{setting} = {{ \"{secret}\" = \"x\" }}"), line),
        c("file and an unknown key", format!("{setting} = {{ file = \"key.pem\", value = \"{secret}\" }}"), line),
        c("env holding an array", format!("{setting} = {{ env = [\"{secret}\"] }}"), line),
        open("unclosed table", format!("{setting} = {{ value = \"{secret}\"")),
        c("duplicate", format!("{setting} = \"{secret}\"\n{setting} = \"{secret}\""), line + 1),
        c("CRLF line ending", format!("{setting} = \"{secret}\r\n"), line),
        open("multi-line string left open", format!("{setting} = \"\"\"{secret}\n{secret}")),
        c("a table of its own with an unknown key", format!("[{key}]\nvalue = \"{secret}\""), line),
    ]
}

fn cases() -> Vec<Case> {
    let pem = private_key();
    let mut cases = Vec::new();
    // `[qfpay]` puts the setting on line 4, `[wechat]` on line 6.
    cases.extend(inline_cases("qfpay.client_key", "client_key", QF_KEY, qfpay, 4));
    let apiv3 = |v: &str| wechat(&format!("private_key = {{ file = \"key.pem\" }}\n{v}"));
    cases.extend(inline_cases("wechat.apiv3_key", "apiv3_key", APIV3, apiv3, 7));
    let private = |v: &str| wechat(&format!("{v}\napiv3_key = {{ env = \"CUSTOMS_TEST_APIV3\" }}"));
    let flat = pem.replace('\n', "");
    cases.extend(inline_cases("wechat.private_key", "private_key", &flat, private, 6));
    let public = |v: &str| wechat(&format!("{WX_KEYS}\npublic_key_id = \"{}\"\n{v}", demo::PUB_KEY_ID));
    cases.extend(inline_cases("wechat.public_key", "public_key", &public_key().replace('\n', ""), public, 9));

    // Inline PEMs over several lines.
    let apiv3_line = "apiv3_key = { env = \"CUSTOMS_TEST_APIV3\" }";
    let pem_body = body(&pem);
    cases.push(case(
        "PEM in a one-line string over several lines",
        wechat(&format!("private_key = \"{}\"\n{apiv3_line}", pem.trim_end())),
        "wechat.private_key",
        At(7),
    ));
    cases.push(case(
        "PEM lines after a closed string",
        wechat(&format!(
            "private_key = \"-----BEGIN PRIVATE KEY-----\"\n{pem_body}\n-----END PRIVATE KEY-----\"\n{apiv3_line}"
        )),
        "wechat.private_key",
        At(7),
    ));
    cases.push(case(
        "PEM in a multi-line string left open",
        wechat(&format!("private_key = \"\"\"\n{pem}\n{apiv3_line}")),
        "wechat.private_key",
        Somewhere,
    ));
    cases.push(case(
        "PEM in a multi-line literal string left open",
        wechat(&format!("{apiv3_line}\nprivate_key = '''\n{pem}")),
        "wechat.private_key",
        Somewhere,
    ));
    cases.push(case(
        "PEM in a well-formed multi-line string, then an unknown key",
        wechat(&format!("private_key = \"\"\"\n{pem}\"\"\"\n{apiv3_line}\nprivate_kye = '''\n{pem}'''")),
        "wechat",
        Somewhere,
    ));

    // Errors elsewhere on a line that holds a secret, or next to one.
    cases.push(case(
        "a bad identifier in a table with the secret",
        format!("wechat = {{ mchid = 5, appid = \"wx1\", serial_no = \"A\", apiv3_key = \"{APIV3}\", private_key = \"{flat}\" }}\n"),
        "wechat.mchid",
        At(1),
    ));
    cases.push(case(
        "an unknown key after the secret",
        qfpay(&format!("client_key = \"{QF_KEY}\"\nclient_kye = \"{QF_KEY}\"")),
        "qfpay",
        At(5),
    ));
    cases.push(case(
        "a bad value with the secret in its comment",
        format!("[qfpay]\napp_code = 5 # old key: {QF_KEY}\nclient_key = \"{QF_KEY}\"\n"),
        "qfpay.app_code",
        At(2),
    ));
    cases.push(case(
        "an unclosed array swallowing the secret",
        wechat(&format!("platform_certificates = [\"a.pem\",\napiv3_key = \"{APIV3}\"\nprivate_key = \"{flat}\"")),
        "wechat.platform_certificates",
        Somewhere,
    ));
    cases.push(case(
        "an unclosed multi-line identifier swallowing the secret",
        wechat(&format!("public_key_id = \"\"\"PUB_KEY_ID_1\napiv3_key = \"{APIV3}\"\nprivate_key = \"{flat}\"")),
        "wechat.public_key_id",
        Somewhere,
    ));
    cases.push(case("a section that is a string", format!("qfpay = \"{QF_KEY}\"\n"), "qfpay", At(1)));
    cases.push(case(
        "a secret where a table belongs",
        format!("[qfpay]\napp_code = \"A\"\nclient_key = {{ file = \"k\" }}\n[wechat.{QF_KEY}]\n"),
        "wechat",
        At(4),
    ));

    // Bad content behind `{ file = … }` and `{ env = … }`.
    let half = &pem[..pem.len() / 2];
    let corrupt = pem.replacen('M', "*", 3);
    let relabelled = pem.replace("PRIVATE KEY", "RSA PUBLIC KEY");
    for (name, content) in [
        ("private key file cut in half", half.to_owned()),
        ("private key file with corrupt base64", corrupt.clone()),
        ("private key file with another label", relabelled.clone()),
        ("private key file holding its body only", pem_body.clone()),
        ("private key file holding the APIv3 key", APIV3.to_owned()),
    ] {
        cases.push(case(name, wechat(WX_KEYS), "wechat.private_key", NotInFile).file("key.pem", content));
    }
    cases.push(
        case(
            "private key in a variable, cut in half",
            wechat("private_key = { env = \"CUSTOMS_TEST_PEM\" }\napiv3_key = { env = \"CUSTOMS_TEST_APIV3\" }"),
            "wechat.private_key",
            NotInFile,
        )
        .env("CUSTOMS_TEST_PEM", half.to_owned()),
    );
    cases.push(
        case(
            "APIv3 key file one byte short",
            wechat("private_key = { file = \"key.pem\" }\napiv3_key = { file = \"v3.txt\" }"),
            "wechat.apiv3_key",
            NotInFile,
        )
        .file("v3.txt", APIV3_ASCII[1..].to_owned()),
    );
    cases.push(
        case("APIv3 key variable too long", wechat(WX_KEYS), "wechat.apiv3_key", NotInFile)
            .env("CUSTOMS_TEST_APIV3", format!("{APIV3_ASCII}{APIV3}")),
    );
    let pk = |v: &str| wechat(&format!("{WX_KEYS}\npublic_key_id = \"{}\"\npublic_key = {v}", demo::PUB_KEY_ID));
    cases.push(
        case("public key file holding the private key", pk("{ file = \"pub.pem\" }"), "wechat.public_key", NotInFile)
            .file("pub.pem", pem.clone()),
    );
    cases.push(
        case("public key file cut in half", pk("{ file = \"pub.pem\" }"), "wechat.public_key", NotInFile)
            .file("pub.pem", public_key()[..public_key().len() / 2].to_owned()),
    );
    cases.push(case(
        "the secret pasted as the variable's name",
        qfpay(&format!("client_key = {{ env = \"{QF_KEY}\" }}")),
        "qfpay.client_key",
        NotInFile,
    ));
    cases
}

struct Dir(PathBuf);

impl Dir {
    fn new(n: usize) -> Self {
        let dir = std::env::temp_dir().join(format!("customs-cli-config-secrets-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(c: &Case, config: &Path, json: bool) -> Output {
    let mut cmd = Command::cargo_bin("customs").expect("the customs binary is built");
    cmd.current_dir(config.parent().unwrap()).env_remove("CUSTOMS_TEST_PEM").env_remove("CUSTOMS_TEST_APIV3");
    // Tracing at TRACE, where the binary has it: it must not show a secret either.
    cmd.env("RUST_LOG", "trace");
    for (k, v) in &c.env {
        cmd.env(k, v);
    }
    cmd.args(["--config", config.to_str().unwrap()]);
    if json {
        cmd.args(["--output", "json"]);
    }
    if c.key.starts_with("qfpay") {
        cmd.args(["qfpay", "query", "--dry-run"]);
    } else {
        cmd.args(["wechat", "certificates", "--dry-run"]);
    }
    cmd.output().unwrap()
}

/// The line to check, when the error must be located in the file: the
/// expected one, or the one reported when any line will do.
fn located(line: Line, reported: Option<u64>) -> Option<u64> {
    match line {
        At(n) => Some(n),
        Somewhere => Some(reported.unwrap_or(0)),
        NotInFile => None,
    }
}

/// The forbidden windows found in `bytes`, shortened for the report.
fn leaks(bytes: &[u8], forbidden: &[Vec<u8>]) -> Vec<String> {
    forbidden
        .iter()
        .filter(|w| bytes.windows(w.len()).any(|b| b == w.as_slice()))
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

#[test]
fn no_configuration_error_shows_a_secret_and_each_names_where_it_is() {
    let forbidden = forbidden();
    let mut failures = Vec::new();
    for (n, c) in cases().iter().enumerate() {
        let dir = Dir::new(n);
        let config = dir.0.join("customs.toml");
        std::fs::write(&config, &c.toml).unwrap();
        for (name, content) in &c.files {
            std::fs::write(dir.0.join(name), content).unwrap();
        }
        for json in [false, true] {
            let mode = if json { "json" } else { "text" };
            let o = run(c, &config, json);
            let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            let mut fail =
                |why: String| failures.push(format!("[{} / {mode}] {why}\nstdout: {stdout}\nstderr: {stderr}", c.name));
            for (stream, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
                let found = leaks(bytes, &forbidden);
                if !found.is_empty() {
                    fail(format!("{stream} shows secret bytes {:?}", &found[..found.len().min(3)]));
                }
            }
            if o.status.code() != Some(2) {
                fail(format!("exit {:?}, expected 2", o.status.code()));
                continue;
            }
            let message = if json {
                let v: serde_json::Value = match serde_json::from_str(stdout.trim()) {
                    Ok(v) => v,
                    Err(e) => {
                        fail(format!("stdout is not one JSON object: {e}"));
                        continue;
                    }
                };
                let details = &v["error"]["details"];
                if v["error"]["kind"] != "config" {
                    fail(format!("error kind {}, expected config", v["error"]["kind"]));
                }
                if details["key"] != c.key {
                    fail(format!("details.key {}, expected {}", details["key"], c.key));
                }
                if let Some(line) = located(c.line, details["line"].as_u64()) {
                    if details["line"] != line || !details["column"].is_u64() {
                        fail(format!(
                            "details.line {} / column {}, expected line {line}",
                            details["line"], details["column"]
                        ));
                    }
                    if details["file"] != config.to_str().unwrap() {
                        fail(format!("details.file {}", details["file"]));
                    }
                    if !details["diagram"]
                        .as_str()
                        .is_some_and(|d| d.contains(&format!("\n{line} | ")) && d.contains('^'))
                    {
                        fail("no caret diagram of the line".into());
                    }
                }
                v["error"]["message"].as_str().unwrap_or_default().to_owned()
            } else {
                if !stdout.is_empty() {
                    fail("text mode printed to stdout".into());
                }
                let first = stderr.lines().next().unwrap_or_default().to_owned();
                let reported: Option<u64> = first
                    .split(&format!("{}:", config.display()))
                    .nth(1)
                    .and_then(|r| r.split(':').next()?.parse().ok());
                if let Some(line) = located(c.line, reported)
                    && !(stderr.contains(&format!("\n{line} | ")) && stderr.contains('^'))
                {
                    fail("no caret diagram of the line".into());
                }
                first
            };
            if !message.contains(&format!("`{}`", c.key)) {
                fail(format!("the message does not name `{}`", c.key));
            }
            let reported: Option<u64> =
                message.split(&format!("{}:", config.display())).nth(1).and_then(|r| r.split(':').next()?.parse().ok());
            match (c.line, reported) {
                (At(line), Some(r)) if r == line => {}
                (Somewhere, Some(_)) | (NotInFile, None) => {}
                (_, r) => fail(format!("the message names line {r:?} of {}", config.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n\n{}", failures.len(), failures.join("\n\n"));
}

/// The well-formed equivalents pass: the cases fail for the reason they
/// show, not because the base configuration is broken.
#[test]
fn the_well_formed_configurations_work() {
    let pem = private_key();
    let configs = [
        qfpay(&format!("client_key = \"{QF_KEY}\"")),
        wechat(WX_KEYS),
        wechat(&format!("private_key = \"\"\"\n{pem}\"\"\"\napiv3_key = \"{APIV3_ASCII}\"")),
        wechat(&format!(
            "{WX_KEYS}\npublic_key_id = \"{}\"\npublic_key = \"\"\"\n{}\"\"\"",
            demo::PUB_KEY_ID,
            public_key()
        )),
    ];
    let forbidden = forbidden();
    for (n, toml) in configs.into_iter().enumerate() {
        let dir = Dir::new(1000 + n);
        let config = dir.0.join("customs.toml");
        std::fs::write(&config, &toml).unwrap();
        std::fs::write(dir.0.join("key.pem"), &pem).unwrap();
        let c = Case {
            name: "well-formed",
            toml,
            files: vec![],
            env: vec![("CUSTOMS_TEST_APIV3", APIV3_ASCII.into())],
            key: if n == 0 { "qfpay" } else { "wechat" },
            line: NotInFile,
        };
        let o = run(&c, &config, false);
        let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        // qfpay query without fields is refused as invalid input (exit 2),
        // not as configuration; the WeChat dry run succeeds.
        assert!(!stderr.contains("configuration"), "config {n} rejected: {stderr}");
        assert!(leaks(&o.stdout, &forbidden).is_empty() && leaks(&o.stderr, &forbidden).is_empty(), "{stdout}{stderr}");
    }
}
