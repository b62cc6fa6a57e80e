//! Emulated instructions per second on the smoke firmware (continuous power, to `test_done`).
//! `cargo bench -p inas-emu --bench mips` prints the MIPS figure the issue asks for, twice:
//! against wall time (`smoke/`) and against the benchmark thread's CPU time (`smoke_cpu/`),
//! which other jobs on a shared machine do not inflate.

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use inas_emu::builds::{firmware_elf, Build};
use inas_emu::{Firmware, Machine, MachineConfig, Platform, Stop};

/// CPU time of the calling thread.
struct ThreadCpu;

fn thread_cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_now()
    }

    fn end(&self, start: Duration) -> Duration {
        thread_cpu_now().saturating_sub(start)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Nanoseconds shown as ms of CPU; element throughput as M instructions per CPU second.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, _: f64, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v /= 1e6);
        "ms (cpu)"
    }

    fn scale_throughputs(&self, _: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let n = match t {
            Throughput::Elements(n) | Throughput::Bytes(n) | Throughput::BytesDecimal(n) => *n,
        };
        values
            .iter_mut()
            .for_each(|v| *v = n as f64 / (*v / 1e9) / 1e6);
        "M instr/s (cpu)"
    }

    fn scale_for_machines(&self, _: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn bench_cpu(c: &mut Criterion<ThreadCpu>) {
    bench_on(c, "smoke_cpu");
}

fn bench(c: &mut Criterion) {
    bench_on(c, "smoke");
}

fn bench_on<M: Measurement>(c: &mut Criterion<M>, group: &str) {
    let path = firmware_elf(Build::Smoke).unwrap_or_else(|e| panic!("{e}"));
    let fw = Firmware::from_path(&path).expect("parses");
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
    let mut g = c.benchmark_group(group);
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
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = bench_cpu
}
criterion_main!(benches, cpu_benches);
