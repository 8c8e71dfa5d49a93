use std::process::ExitCode;

use clap::Parser;
use qbench::cli::{Cli, Command};
use qbench::scenario;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = scenario::scenarios_dir(cli.scenarios.as_deref());
    if let Command::Check(args) = &cli.command {
        return match qbench::check::run(&dir, args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    let result = match &cli.command {
        Command::Compare(args) => qbench::compare::run(&dir, args),
        Command::Train(args) => qbench::train_cmd::run(&dir, args),
        Command::Debug(args) => qbench::debug::run(&dir, args),
        Command::Tune(args) => qbench::tune::run(&dir, args),
        Command::Init(args) => qbench::model_scenario::init(&dir, args).map(|path| {
            println!(
                "wrote {}: edit it, then run `qbench compare --scenario {}`",
                path.display(),
                path.file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default()
            );
        }),
        Command::Scenarios => scenario::list(&dir).and_then(|list| {
            let mut broken = 0;
            for (name, description) in list {
                match description {
                    Ok(d) => println!("{name:<12} {d}"),
                    Err(e) => {
                        broken += 1;
                        println!("{name:<12} cannot be loaded: {e:#}");
                    }
                }
            }
            match broken {
                0 => Ok(()),
                n => Err(anyhow::anyhow!(
                    "{n} scenario file(s) in {} cannot be loaded (see above)",
                    dir.display()
                )),
            }
        }),
        Command::Backends => {
            for b in qbench::registry::backends() {
                match b.check() {
                    Ok(()) => println!("{:<8} {}", b.name(), b.version()),
                    Err(e) => println!("{:<8} unavailable: {e}", b.name()),
                }
            }
            Ok(())
        }
        Command::CalibrationProfile(a) => match &a.child {
            Some(what) => qbench::calibration_profile::child(&dir, &a.scenario, what),
            None => qbench::calibration_profile::run(
                &dir,
                &a.scenario,
                &a.techniques,
                std::time::Duration::from_secs(a.timeout),
            ),
        },
        Command::Cell { spec } => qbench::cell::main(spec),
        Command::Check(_) => unreachable!("handled above"),
        Command::Merge(a) => qbench::merge::run(a),
        Command::Publish(a) => {
            let out = a
                .out
                .clone()
                .unwrap_or_else(|| qbench::compare::results_dir(&dir).join(&a.scenario));
            qbench::publish::run(&a.scenario, a.from.as_deref(), &out, a.allow_unoptimized).map(
                |written| {
                    for p in written {
                        println!("wrote {}", p.display());
                    }
                },
            )
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<qbench::interrupt::Interrupted>().is_some() {
                ExitCode::from(qbench::interrupt::EXIT_CODE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
