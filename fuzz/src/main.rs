//! `kube-fuzz [TARGET|all] [--seconds N] [--seed S]`: runs fuzz targets on mutated inputs for
//! a bounded time; a crashing input is written to `fuzz-crash-TARGET.bin` and the run fails.

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let mut which = "all".to_owned();
    let mut seconds = 60u64;
    let mut seed = 0x5eed_u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse().ok());
        match arg.as_str() {
            "--seconds" => seconds = value().unwrap_or(seconds),
            "--seed" => seed = value().unwrap_or(seed),
            "-h" | "--help" => {
                let names: Vec<&str> = kube_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
                println!(
                    "usage: kube-fuzz [TARGET|all] [--seconds N] [--seed S]\ntargets: {}",
                    names.join(", ")
                );
                return ExitCode::SUCCESS;
            }
            name => which = name.to_owned(),
        }
    }
    let targets: Vec<_> = kube_fuzz::TARGETS
        .iter()
        .filter(|(name, _)| which == "all" || *name == which)
        .collect();
    if targets.is_empty() {
        eprintln!("no target {which:?} (try --help)");
        return ExitCode::FAILURE;
    }
    let budget = Duration::from_secs(seconds) / u32::try_from(targets.len()).unwrap_or(1);
    // Panics are caught and reported with their input; the default hook's output is noise.
    std::panic::set_hook(Box::new(|_| {}));
    for (name, target) in targets {
        let report = kube_fuzz::driver::run(name, *target, seed, budget, u64::MAX);
        match report.crash {
            None => println!("{name}: {} inputs, no panic", report.runs),
            Some((input, message)) => {
                let file = format!("fuzz-crash-{name}.bin");
                let _ = std::fs::write(&file, &input);
                eprintln!(
                    "{name}: panicked after {} inputs: {message}\ninput written to {file}",
                    report.runs
                );
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
