//! `varscope bench`: prints each figure as soon as it is measured (stdout), with
//! progress on stderr; `bench scopes` measures host-side scope resolution here.

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use serde_json::json;
use varscope::bench::{Event, Figure};
use varscope::{Graph, Reuse};

use crate::BenchKind;

/// Allowed `--size` of `bench scopes` (variables to create).
pub const SCOPES: RangeInclusive<u64> = 1..=1_000_000;

type BenchResult = Result<(), Box<dyn std::error::Error>>;

/// Runs one benchmark; `size` is already checked against its range.
pub fn run(what: BenchKind, device: Option<&str>, size: Option<u64>, as_json: bool, quiet: bool) -> BenchResult {
    let progress = |e: Event<'_>| match e {
        Event::Measuring { name, device } if !quiet => eprintln!("bench: measuring {name} on {device} ..."),
        Event::Measuring { .. } => {}
        Event::Figure(f) => print_figure(f, as_json),
    };
    match what {
        BenchKind::Scopes => scopes(size.unwrap_or(100_000), as_json, quiet),
        BenchKind::Model => varscope::bench::model_figures(device, 3, progress).map(|_| ()).map_err(Into::into),
        BenchKind::Checkpoint => {
            varscope::bench::checkpoint_figures(device, 5, progress).map(|_| ()).map_err(Into::into)
        }
        BenchKind::Init => varscope::bench::init_figures(device, size.unwrap_or(1 << 22), 10_000, 5, progress)
            .map(|_| ())
            .map_err(Into::into),
        BenchKind::Update => {
            let figs = varscope::bench::update_figures(device, size.unwrap_or(1 << 22), 5, progress)?;
            if figs.is_empty() && !quiet {
                eprintln!(
                    "bench: no GPU device to measure (bench update runs on GPUs; give --device /cpu:0 for the host)"
                );
            }
            Ok(())
        }
    }
}

fn figure(as_json: bool, bench: &str, name: &str, value: f64, unit: &str, extra: serde_json::Value) {
    if as_json {
        let mut o = json!({ "bench": bench, "figure": name, "value": value, "unit": unit });
        if let (Some(o), Some(e)) = (o.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        println!("{o}");
    } else {
        let extra = extra
            .as_object()
            .map(|e| e.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        println!("{bench:<7} {name:<40} {value:>12.3} {unit:<6} {extra}");
    }
}

fn print_figure(f: &Figure, as_json: bool) {
    figure(
        as_json,
        f.bench,
        &f.name,
        f.gbps,
        "GB/s",
        json!({
            "device": f.device, "adapter": f.adapter, "backend": f.backend,
            "ratio_to_clear": (f.ratio_to_clear * 1000.0).round() / 1000.0,
            "ms": (f.time.as_secs_f64() * 1e6).round() / 1e3, "bytes": f.bytes,
            "us_per_variable": (f.time.as_secs_f64() * 1e9 / f.variables.max(1) as f64).round() / 1e3,
        }),
    );
}

/// Host-side scope resolution: creation rate, layer scopes ([`layer_scopes`],
/// `--size / 10` layers), reuse-lookup latency three scopes deep, and lookup scaling over
/// all cores.
fn scopes(n: u64, as_json: bool, quiet: bool) -> BenchResult {
    let say = |what: &str| {
        if !quiet {
            eprintln!("bench: measuring {what} on the host ...");
        }
    };
    say("create_variables");
    let g = Graph::new();
    let t = Instant::now();
    g.variable_scope("a").run(|_| {
        g.variable_scope("b").run(|_| {
            g.variable_scope("c").run(|_| -> varscope::Result<()> {
                for i in 0..n {
                    g.get_variable(&format!("v{i}")).shape([16]).get()?;
                }
                Ok(())
            })
        })
    })?;
    let create = t.elapsed();
    figure(as_json, "scopes", "create_variables", create.as_secs_f64(), "s", json!({ "count": n }));
    figure(as_json, "scopes", "create_per_variable", create.as_nanos() as f64 / n as f64 / 1000.0, "us", json!({}));

    say("layer scopes");
    layer_scopes((n / 10).max(1), as_json)?;

    say("reuse_lookup_3_deep");
    let lookups: u64 = 400_000;
    let names: Vec<String> = (0..n.clamp(1, lookups)).map(|i| format!("v{i}")).collect();
    let one = reuse_lookups(&g, lookups, &names)?;
    figure(
        as_json,
        "scopes",
        "reuse_lookup_3_deep",
        one.as_nanos() as f64 / lookups as f64,
        "ns",
        json!({ "threads": 1 }),
    );

    let threads = std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1);
    say(&format!("reuse lookups on {threads} threads"));
    let t = Instant::now();
    std::thread::scope(|s| -> BenchResult {
        let hs: Vec<_> = (0..threads).map(|_| s.spawn(|| reuse_lookups(&g, lookups, &names))).collect();
        for h in hs {
            let lookups = h.join().map_err(|_| "lookup thread panicked")?;
            lookups?;
        }
        Ok(())
    })?;
    let all = t.elapsed();
    let per_sec_one = lookups as f64 / one.as_secs_f64();
    let per_sec_all = (lookups * threads as u64) as f64 / all.as_secs_f64();
    figure(as_json, "scopes", "reuse_lookups_per_second", per_sec_all, "1/s", json!({ "threads": threads }));
    figure(
        as_json,
        "scopes",
        "lookup_speedup_all_cores",
        per_sec_all / per_sec_one,
        "x",
        json!({ "threads": threads }),
    );
    Ok(())
}

/// The sharing idiom over `layers` layers, per layer: its scope opened with one variable,
/// its scope object entered again with reuse (TensorFlow's counters made each such entry
/// cost as much as all the scopes opened before it), and a default-named scope (`dense`,
/// `dense_1`, ...) opened in one model scope.
fn layer_scopes(layers: u64, as_json: bool) -> BenchResult {
    let g = Graph::new();
    let t = Instant::now();
    let mut scopes = Vec::with_capacity(layers as usize);
    for i in 0..layers {
        g.variable_scope(format!("layer{i}").as_str()).run(|s| -> varscope::Result<()> {
            scopes.push(s.clone());
            g.get_variable("w").shape([16]).get()?;
            Ok(())
        })?;
    }
    let open = t.elapsed();
    let t = Instant::now();
    for s in &scopes {
        g.variable_scope(s).reuse(Reuse::True).run(|_| g.get_variable("w").get().map(std::hint::black_box))?;
    }
    let reenter = t.elapsed();
    let t = Instant::now();
    g.variable_scope("model").run(|_| -> varscope::Result<()> {
        for _ in 0..layers {
            g.variable_scope_default("dense").run(|_| g.get_variable("w").shape([16]).get().map(drop))?;
        }
        Ok(())
    })?;
    let default_named = t.elapsed();
    let per = |d: Duration| d.as_nanos() as f64 / layers as f64 / 1000.0;
    figure(as_json, "scopes", "open_layer_scope", per(open), "us", json!({ "layers": layers }));
    figure(as_json, "scopes", "reenter_layer_scope", per(reenter), "us", json!({ "layers": layers }));
    figure(as_json, "scopes", "open_default_named_scope", per(default_named), "us", json!({ "layers": layers }));
    Ok(())
}

/// `count` reuse lookups three scopes deep, cycling through `names` (made beforehand, so
/// only the lookup is timed; not empty).
fn reuse_lookups(g: &Graph, count: u64, names: &[String]) -> Result<Duration, String> {
    let t = Instant::now();
    g.variable_scope("a")
        .reuse(Reuse::True)
        .run(|_| {
            g.variable_scope("b").run(|_| {
                g.variable_scope("c").run(|_| -> varscope::Result<()> {
                    for name in names.iter().cycle().take(count as usize) {
                        std::hint::black_box(g.get_variable(name).get()?);
                    }
                    Ok(())
                })
            })
        })
        .map_err(|e| e.to_string())?;
    Ok(t.elapsed())
}
