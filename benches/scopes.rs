//! Host-side API cost, apart from kernel throughput: get_variable creation and
//! reuse lookups three scopes deep (issue 6 targets: reuse < 1 us, 100k creations < 1 s).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use varscope::{Graph, Reuse};

fn in_abc<R>(g: &Graph, reuse: Reuse, f: impl FnOnce() -> R) -> R {
    g.variable_scope("a")
        .reuse(reuse)
        .run_plain(|_| g.variable_scope("b").run_plain(|_| g.variable_scope("c").run_plain(|_| f()).unwrap()).unwrap())
        .unwrap()
}

fn scopes(c: &mut Criterion) {
    let mut group = c.benchmark_group("scopes");
    group.sample_size(20);

    let g = Graph::new();
    in_abc(&g, Reuse::Inherit, || g.get_variable("w").shape([16]).get().unwrap());
    group.throughput(Throughput::Elements(1));
    group.bench_function("reuse_lookup_3_deep", |b| {
        in_abc(&g, Reuse::True, || b.iter(|| std::hint::black_box(g.get_variable("w").get().unwrap())))
    });

    let names: Vec<String> = (0..10_000).map(|i| format!("v{i}")).collect();
    group.throughput(Throughput::Elements(names.len() as u64));
    group.bench_function("create_10k_variables", |b| {
        b.iter_batched(
            Graph::new,
            |g| {
                in_abc(&g, Reuse::Inherit, || {
                    for n in &names {
                        g.get_variable(n).shape([16]).get().unwrap();
                    }
                });
                g
            },
            BatchSize::PerIteration,
        )
    });

    group.throughput(Throughput::Elements(1));
    group.bench_function("enter_exit_scope", |b| {
        let g = Graph::new();
        b.iter(|| g.variable_scope("s").run_plain(|s| std::hint::black_box(s.name())).unwrap())
    });
    group.finish();
}

criterion_group!(benches, scopes);
criterion_main!(benches);
