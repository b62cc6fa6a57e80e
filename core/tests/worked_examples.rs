//! The three worked examples of docs/cost-model.md (§13): designs identical, counts
//! identical, every number bit for bit (stricter than the 1e-9 relative the reference allows).

use inas_core::explore::explore_network;
use inas_core::model::{Overrides, Platform, Power};
use inas_core::network::{Dataset, CIFAR};
use inas_core::profile::Profile;

struct Row {
    name: &'static str,
    enumerated: u64,
    feasible: u64,
    ties: u64,
    design: &'static str,
    epc_max: f64,
    epc_min: f64,
    npc: (f64, f64, f64),
    le2e: f64,
    vm: u64,
}

#[rustfmt::skip]
const CIFAR_ROWS: &[Row] = &[
    Row { name: "CONV_0", enumerated: 2176, feasible: 1276, ties: 2, design: "3_15_8_1_reuse_O_S1", epc_max: 0.0014900614881843855, epc_min: 0.0014666361912613086, npc: (60.0, 20.0, 40.0), le2e: 42.54441423971393, vm: 1034 },
    Row { name: "CONV_1", enumerated: 4480, feasible: 1348, ties: 2, design: "1_13_1_8_reuse_I_S8", epc_max: 0.001311758081242364, epc_min: 0.001311758081242364, npc: (156.0, 156.0, 0.0), le2e: 103.40645305294369, vm: 1968 },
    Row { name: "CONV_2", enumerated: 48000, feasible: 18359, ties: 2, design: "2_4_1_24_reuse_I_S24", epc_max: 0.0010534788846374235, epc_min: 0.0010534788846374235, npc: (72.0, 72.0, 0.0), le2e: 42.677028599021085, vm: 1968 },
    Row { name: "CONV_3", enumerated: 14040, feasible: 3418, ties: 2, design: "1_5_1_12_reuse_I_S16", epc_max: 0.0012473867313830531, epc_min: 0.001219321491383053, npc: (160.0, 80.0, 80.0), le2e: 101.33508378288063, vm: 1840 },
    Row { name: "CONV_4", enumerated: 6875, feasible: 2051, ties: 2, design: "1_2_1_16_reuse_W_S32", epc_max: 0.0015092100696347437, epc_min: 0.0015092100696347437, npc: (64.0, 64.0, 0.0), le2e: 43.13629207282069, vm: 1888 },
    Row { name: "GAVGPOOL_0", enumerated: 625, feasible: 590, ties: 13, design: "1_16_16_1_reuse_O_S16", epc_max: 0.0004018803207307694, epc_min: 0.0004018803207307694, npc: (1.0, 1.0, 0.0), le2e: 0.41921962517148514, vm: 1024 },
    Row { name: "FC_END", enumerated: 115, feasible: 115, ties: 1, design: "1_1_10_16_reuse_O_S1", epc_max: 9.229907843449599e-05, epc_min: 9.229907843449599e-05, npc: (1.0, 1.0, 0.0), le2e: 0.3490363024843022, vm: 372 },
];

#[rustfmt::skip]
const HAR_ROWS: &[Row] = &[
    Row { name: "CONV_0", enumerated: 99, feasible: 99, ties: 1, design: "124_1_4_1_reuse_O_S1", epc_max: 0.001233415074422236, epc_min: 0.001182257367345313, npc: (9.0, 1.0, 8.0), le2e: 7.962367836781961, vm: 1288 },
    Row { name: "CONV_1", enumerated: 2250, feasible: 2045, ties: 4, design: "40_1_1_4_reuse_I_S16", epc_max: 0.0014632702936381412, epc_min: 0.0014632702936381412, npc: (3.0, 3.0, 0.0), le2e: 2.874524617731998, vm: 1672 },
    Row { name: "CONV_2", enumerated: 2100, feasible: 1437, ties: 1, design: "2_1_4_16_reuse_W_S58", epc_max: 0.001369830046187686, epc_min: 0.001369830046187686, npc: (6.0, 6.0, 0.0), le2e: 5.483440164982374, vm: 1760 },
    Row { name: "GAVGPOOL_0", enumerated: 84, feasible: 76, ties: 2, design: "2_1_12_1_reuse_O_S58", epc_max: 0.00019854552273076926, epc_min: 0.00019854552273076926, npc: (2.0, 2.0, 0.0), le2e: 1.1507451276347735, vm: 1440 },
    Row { name: "FC_END", enumerated: 165, feasible: 165, ties: 1, design: "1_1_6_24_reuse_O_S1", epc_max: 8.874140227571755e-05, epc_min: 8.874140227571755e-05, npc: (1.0, 1.0, 0.0), le2e: 0.5439073584753469, vm: 348 },
];

#[rustfmt::skip]
const KWS_ROWS: &[Row] = &[
    Row { name: "FC_0", enumerated: 60, feasible: 14, ties: 2, design: "1_1_1_1_reuse_I_S6", epc_max: 0.0014177693622491813, epc_min: 0.0014177693622491813, npc: (8.0, 8.0, 0.0), le2e: 7.631107039880376, vm: 1012 },
    Row { name: "FC_1", enumerated: 676, feasible: 633, ties: 5, design: "1_1_1_48_reuse_I_S128", epc_max: 0.00035628268149196933, epc_min: 0.00035628268149196933, npc: (1.0, 1.0, 0.0), le2e: 0.6583262270644049, vm: 448 },
    Row { name: "FC_2", enumerated: 760, feasible: 717, ties: 5, design: "1_1_1_128_reuse_I_S48", epc_max: 0.00029177789708320005, epc_min: 0.00029177789708320005, npc: (1.0, 1.0, 0.0), le2e: 0.6384658494555632, vm: 608 },
    Row { name: "FC_3", enumerated: 676, feasible: 633, ties: 5, design: "1_1_1_48_reuse_I_S128", epc_max: 0.00035628268149196933, epc_min: 0.00035628268149196933, npc: (1.0, 1.0, 0.0), le2e: 0.6583262270644049, vm: 448 },
    Row { name: "FC_END", enumerated: 384, feasible: 381, ties: 4, design: "1_1_1_128_reuse_I_S12", epc_max: 0.00013493290585733846, epc_min: 0.00013493290585733846, npc: (1.0, 1.0, 0.0), le2e: 0.5923489111080711, vm: 536 },
];

fn check(dataset: Dataset, rehm: f64, rows: &[Row], total: f64) -> Platform {
    let p = Platform::new(
        &Profile::reference(),
        Overrides {
            capacitance_f: Some(0.005),
            margin: Some(0.55),
            r_ohm: Some(rehm),
            vm_bytes: Some(2048),
        },
    )
    .unwrap();
    assert_eq!(p.budget_j(), 0.001512637500000003, "Eav");
    let space = dataset.space();
    let net = space.network(space.example).unwrap();
    let r = explore_network(&p, &net, Power::Int).unwrap();
    assert_eq!(r.infeasible, None);
    assert_eq!(r.layers.len(), rows.len());
    for (got, want) in r.layers.iter().zip(rows) {
        let d = &got.design;
        let c = d.counts();
        assert_eq!(got.name, want.name);
        assert_eq!(
            (got.stats.enumerated, got.stats.feasible, got.stats.ties),
            (want.enumerated, want.feasible, want.ties),
            "{} enum/feas/ties",
            want.name
        );
        assert_eq!(
            got.stats.enumerated,
            got.stats.failed_c0 + got.stats.failed_c1 + got.stats.feasible
        );
        assert_eq!(d.exec().to_string(), want.design, "{} design", want.name);
        assert_eq!(d.epc_max_j(), want.epc_max, "{} Epc_max", want.name);
        assert_eq!(d.epc_min_j(), want.epc_min, "{} Epc_min", want.name);
        assert_eq!((c.npc, c.n0, c.ngt0), want.npc, "{} npc", want.name);
        assert_eq!(d.le2e_s(), want.le2e, "{} Le2e", want.name);
        assert_eq!(d.vm_bytes(), want.vm, "{} vm", want.name);
    }
    assert_eq!(r.latency_s, Some(total), "total latency");
    p
}

#[test]
fn cifar10_conv2d() {
    check(Dataset::Cifar, 24.0, CIFAR_ROWS, 333.86752767503583);
}

#[test]
fn uci_har_conv1d() {
    check(Dataset::Har, 41.0, HAR_ROWS, 18.014985105606456);
}

#[test]
fn kws_fc() {
    check(Dataset::Kws, 44.0, KWS_ROWS, 10.178574254572823);
}

#[test]
fn cifar10_conv0_debug_values() {
    let p = check(Dataset::Cifar, 24.0, CIFAR_ROWS, 333.86752767503583);
    let net = CIFAR.network(CIFAR.example).unwrap();
    let r = explore_network(&p, &net, Power::Int).unwrap();
    let d = &r.layers[0].design;
    assert_eq!(d.lpc_s(), [0.3517744505986594, 0.3491372453017363]);
    assert_eq!(d.lrc_s(), Some([0.3575011884854195, 0.35851668850061086]));
    assert_eq!(d.eu_pct(), Some(98.50750680082851));
}
