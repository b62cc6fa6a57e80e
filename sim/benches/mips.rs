//! Emulated instructions per second on the smoke firmware (continuous power, to `test_done`).
//! `cargo bench -p inas-sim --bench mips` prints the MIPS figure the issue asks for.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use inas_sim::{Firmware, Machine, MachineConfig, Platform, Stop};
use std::path::PathBuf;

fn smoke_elf() -> PathBuf {
    [
        std::env::var_os("INAS_SMOKE_ELF").map(PathBuf::from),
        Some(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../firmware/target/inas-firmware-smoke.elf"),
        ),
        Some(PathBuf::from("/tmp/inas/elf/smoke.elf")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.exists())
    .expect("no smoke firmware ELF: run `cargo xtask firmware` or set INAS_SMOKE_ELF")
}

fn bench(c: &mut Criterion) {
    let fw = Firmware::from_path(&smoke_elf()).expect("parses");
    let done = fw.symbol("test_done").expect("test_done");
    let fresh = || {
        let mut m = Machine::new(Platform::fr5994(), MachineConfig::default());
        fw.load_into(m.memory_mut()).expect("loads");
        m.power_on().expect("boots");
        m.add_breakpoint(done);
        m
    };
    let mut probe = fresh();
    assert_eq!(
        probe.run(u64::MAX, u64::MAX).expect("runs"),
        Stop::Breakpoint(done)
    );
    let n = probe.instructions();
    let mut g = c.benchmark_group("smoke");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function("run_to_test_done", |b| {
        b.iter_batched(
            fresh,
            |mut m| m.run(u64::MAX, u64::MAX).expect("runs"),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
