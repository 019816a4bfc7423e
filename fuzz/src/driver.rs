//! A mutation driver for the stable toolchain: starts from a few seed inputs per target and
//! mutates them (byte flips, inserted tokens, deleted and repeated runs) with a seeded
//! generator, so a run replays exactly from its seed. A panic is reported with the input that
//! caused it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// Tokens the mutations insert: the syntax the parsers care about.
const TOKENS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    ":",
    ",",
    "=",
    "==",
    "!=",
    "!",
    "(",
    ")",
    " in ",
    " notin ",
    "/",
    "..",
    "%2F",
    "%",
    "?",
    "&",
    "-",
    ".",
    "e",
    "E",
    "Ki",
    "Mi",
    "m",
    "n",
    "u",
    "1",
    "0",
    "9999999999999999999",
    "null",
    "true",
    "\"op\"",
    "\"add\"",
    "\"remove\"",
    "\"path\"",
    "\"$patch\"",
    "\"delete\"",
    "\"$setElementOrder/containers\"",
    "\"$retainKeys\"",
    "\"metadata\"",
    "\"spec\"",
    "\"containers\"",
    "\"name\"",
    "- ",
    "\n",
    "  ",
    "&a ",
    "*a",
    "namespaces",
    "api/v1",
    "apis",
    "pods",
    "status",
    "watch=true",
];

/// The seeds of `target`.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let seeds: &[&str] = match target {
        "object_decoding" => &[
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"c","image":"nginx","resources":{"limits":{"cpu":"1"}}}]}}"#,
            r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":2,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}"#,
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n  - port: 80\n",
        ],
        "label_selector" => &[
            "app=web",
            "a in (x,y),!b",
            "env notin (prod), tier!=db",
            "k",
        ],
        "field_selector" => &["metadata.name=web", "spec.nodeName!=,status.phase==Running"],
        "json_patch" => &[
            r#"[{"op":"add","path":"/metadata/labels/x","value":"y"},{"op":"remove","path":"/spec/containers/1"}]"#,
            r#"[{"op":"move","from":"/metadata/labels","path":"/metadata/annotations"},{"op":"test","path":"/kind","value":"Pod"}]"#,
        ],
        "merge_patch" | "strategic_merge_patch" => &[
            r#"{"metadata":{"labels":{"app":null,"x":"y"}},"spec":{"containers":[{"name":"app","image":"nginx:2"}]}}"#,
            r#"{"spec":{"$setElementOrder/containers":[{"name":"sidecar"},{"name":"app"}],"containers":[{"name":"app","$patch":"delete"}]}}"#,
            r#"[{"a":[1,2]},{"a":{"b":null}}]"#,
        ],
        "quantity" => &[
            "100m",
            "1.5Gi",
            "2e3",
            "0.000001",
            "-1Ki",
            "1E",
            "123456789012345678901234",
        ],
        "request_path" => &[
            "\x00/api/v1/namespaces/default/pods/web/status",
            "\x01/apis/apps/v1/namespaces/x/deployments?dryRun=All",
            "\x00/api/v1/pods?watch=true&labelSelector=a%3Db",
            "\x03/api/v1/namespaces/x/configmaps/..%2Fy",
        ],
        _ => &[""],
    };
    seeds.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// A small deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero is moved off).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// One mutation of `input`.
pub fn mutate(input: &mut Vec<u8>, rng: &mut Rng) {
    let len = input.len();
    match rng.below(6) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 => {
            let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
            let at = rng.below(len + 1);
            input.splice(at..at, token.iter().copied());
        }
        2 if len > 0 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(8)).min(len);
            input.drain(at..end);
        }
        3 if len > 0 => {
            // Repeats a run: builds deep nesting and long lists.
            let at = rng.below(len);
            let end = (at + 1 + rng.below(8)).min(len);
            let run: Vec<u8> = input[at..end].to_vec();
            for _ in 0..1 + rng.below(64) {
                input.splice(at..at, run.iter().copied());
            }
        }
        4 => {
            let at = rng.below(len + 1);
            input.insert(at, (rng.next_u64() & 0xff) as u8);
        }
        _ if len > 0 => input.truncate(rng.below(len)),
        _ => input.push(b'{'),
    }
    input.truncate(64 * 1024);
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    /// Inputs tried.
    pub runs: u64,
    /// The first input that panicked, with the panic message.
    pub crash: Option<(Vec<u8>, String)>,
}

/// Runs `target` on mutations of its seeds for `budget` or `max_runs` inputs, whichever ends
/// first, starting from `seed`; stops at the first panic.
pub fn run(name: &str, target: fn(&[u8]), seed: u64, budget: Duration, max_runs: u64) -> Report {
    let seeds = seeds(name);
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut report = Report::default();
    while report.runs < max_runs && started.elapsed() < budget {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(8) {
            mutate(&mut input, &mut rng);
        }
        report.runs += 1;
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target(&input))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            report.crash = Some((input, message));
            break;
        }
    }
    report
}
