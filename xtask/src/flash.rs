//! `cargo xtask flash`: programs a LaunchPad with the board firmware and, optionally, a plan
//! (and an input to run at first boot) already in its FRAM plan store, as one Intel HEX image.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use ihex::Record;
use inas_common::engine::{Block, Mac, Nvm};
use inas_common::q15::{self, MacTile};
use inas_common::session::{Device, Session, LAUNCHPAD, LAUNCHPAD_NVM_BASE, SLOTS_AT};
use inas_common::wire::RunMode;

use crate::firmware::build_board;
use crate::root;

/// The high FRAM as the session would leave it, recording which words were written.
struct Image {
    words: Vec<Option<i16>>,
}

impl Image {
    fn new() -> Image {
        let mut words = vec![None; LAUNCHPAD.nvm_words as usize];
        // The control block is always part of the image, so whatever FRAM held before
        // (a previous plan, an erased 0xFFFF) cannot be mistaken for state.
        for w in &mut words[..SLOTS_AT as usize] {
            *w = Some(0);
        }
        Image { words }
    }
}

/// An access past the high FRAM.
#[derive(Debug)]
struct OutOfRange;

impl Nvm for Image {
    type Error = OutOfRange;
    fn read(&mut self, _: Block, addr: u32, buf: &mut [i16]) -> Result<(), OutOfRange> {
        let a = addr as usize;
        let src = self.words.get(a..a + buf.len()).ok_or(OutOfRange)?;
        for (d, s) in buf.iter_mut().zip(src) {
            *d = s.unwrap_or(0);
        }
        Ok(())
    }
    fn write(&mut self, _: Block, addr: u32, data: &[i16]) -> Result<(), OutOfRange> {
        let a = addr as usize;
        let dst = self.words.get_mut(a..a + data.len()).ok_or(OutOfRange)?;
        for (d, s) in dst.iter_mut().zip(data) {
            *d = Some(*s);
        }
        Ok(())
    }
}

impl Mac for Image {
    type Error = OutOfRange;
    fn mac(
        &mut self,
        x: &[i16],
        w: &[i16],
        out: &mut [i16],
        tile: &MacTile,
        relu: bool,
    ) -> Result<(), OutOfRange> {
        q15::tile(x, w, out, tile, relu).ok_or(OutOfRange)
    }
    fn pool(
        &mut self,
        x: &[i16],
        w: i16,
        out: &mut [i16],
        pixels: u16,
        shift: u8,
        relu: bool,
    ) -> Result<(), OutOfRange> {
        q15::pool(x, w, out, pixels, shift, relu).ok_or(OutOfRange)
    }
}

impl Device for Image {
    fn cycles(&mut self) -> u32 {
        0
    }
}

/// The FRAM records (Intel HEX, with extended linear addresses) that store `plan` as the
/// LaunchPad's active plan, through the same session code the firmware runs; with `input`,
/// a run is armed so the board computes it at its first boot and sends the result.
pub fn plan_records(plan: &[u8], input: Option<&[i16]>) -> Result<Vec<Record>> {
    let mut image = Image::new();
    let mut session = Session::new(LAUNCHPAD);
    session
        .boot(&mut image)
        .map_err(|_| anyhow::anyhow!("the session's control block is outside the FRAM"))?;
    let id = session
        .install(&mut image, plan)
        .map_err(|e| anyhow::anyhow!("the LaunchPad would refuse this plan: {e:?}"))?;
    if let Some(input) = input {
        session
            .arm_run(&mut image, input, RunMode::Continuous)
            .map_err(|e| anyhow::anyhow!("cannot arm a run of plan {id}: {e:?}"))?;
    }
    let mut records = vec![];
    let mut upper: Option<u16> = None;
    let mut i = 0;
    while i < image.words.len() {
        if image.words[i].is_none() {
            i += 1;
            continue;
        }
        // A run of written words, cut at 16-byte records and at 64 KB address pages.
        let addr = LAUNCHPAD_NVM_BASE + 2 * i as u32;
        let page = (addr >> 16) as u16;
        if upper != Some(page) {
            records.push(Record::ExtendedLinearAddress(page));
            upper = Some(page);
        }
        let mut value = vec![];
        while i < image.words.len() && value.len() < 16 {
            let Some(w) = image.words[i] else { break };
            let next = LAUNCHPAD_NVM_BASE + 2 * i as u32;
            if (next >> 16) as u16 != page {
                break;
            }
            value.extend_from_slice(&w.to_le_bytes());
            i += 1;
        }
        records.push(Record::Data {
            offset: addr as u16,
            value,
        });
    }
    Ok(records)
}

/// The firmware's HEX (from its ELF) with the plan's records appended before the end record.
pub fn merge(firmware_hex: &str, plan: &[Record]) -> Result<String> {
    let mut out = String::new();
    for line in firmware_hex.lines() {
        let record = Record::from_record_string(line.trim())
            .with_context(|| format!("bad line in the firmware's HEX: {line}"))?;
        if record != Record::EndOfFile {
            out.push_str(line.trim());
            out.push('\n');
        }
    }
    let mut tail = plan.to_vec();
    tail.push(Record::EndOfFile);
    out.push_str(&ihex::create_object_file_representation(&tail)?);
    Ok(out)
}

fn read_input(path: &Path) -> Result<Vec<i16>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read input {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected a JSON array of Q15 integers (-32768..32767)",
            path.display()
        )
    })
}

struct Args {
    plan: Option<PathBuf>,
    input: Option<PathBuf>,
    tool: String,
    hex_only: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Args> {
    let mut a = Args {
        plan: None,
        input: None,
        tool: "mspdebug".into(),
        hex_only: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--plan" => a.plan = Some(value()?.into()),
            "--input" => a.input = Some(value()?.into()),
            "--tool" => a.tool = value()?,
            "--hex" => a.hex_only = Some(value()?.into()),
            other => bail!(
                "unknown flag '{other}' (flash takes --plan FILE, --input FILE.json, --tool mspdebug|msp430flasher, --hex OUT.hex)"
            ),
        }
    }
    ensure!(
        a.tool == "mspdebug" || a.tool == "msp430flasher",
        "unknown tool '{}' (mspdebug or msp430flasher)",
        a.tool
    );
    ensure!(
        a.input.is_none() || a.plan.is_some(),
        "--input needs --plan (the input is for the flashed plan)"
    );
    Ok(a)
}

pub fn flash(args: &[String]) -> Result<()> {
    let args = parse(args)?;
    let elf = build_board()?;
    let tools = crate::firmware::nightly_tools()?;
    let out = Command::new(tools.join("llvm-objcopy"))
        .args(["-O", "ihex"])
        .arg(&elf)
        .arg("-")
        .output()
        .context("running llvm-objcopy")?;
    ensure!(
        out.status.success(),
        "llvm-objcopy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut hex = String::from_utf8(out.stdout)?;
    if let Some(plan_path) = &args.plan {
        let plan = std::fs::read(plan_path)
            .with_context(|| format!("cannot read plan {}", plan_path.display()))?;
        let input = args.input.as_deref().map(read_input).transpose()?;
        let records = plan_records(&plan, input.as_deref())
            .with_context(|| plan_path.display().to_string())?;
        hex = merge(&hex, &records)?;
        println!(
            "flash: plan {} in the FRAM plan store{}",
            plan_path.display(),
            if input.is_some() {
                ", with an input to run at first boot"
            } else {
                ""
            }
        );
    }
    let path = args
        .hex_only
        .clone()
        .unwrap_or_else(|| root().join("firmware/target/inas-launchpad.hex"));
    std::fs::write(&path, &hex).with_context(|| format!("cannot write {}", path.display()))?;
    println!("flash: image {}", path.display());
    if args.hex_only.is_some() {
        return Ok(());
    }
    program(&args.tool, &path)
}

fn program(tool: &str, hex: &Path) -> Result<()> {
    let status = if tool == "msp430flasher" {
        let Some(flasher) = std::env::var_os("MSP430_FLASHER") else {
            bail!("--tool msp430flasher needs MSP430_FLASHER set to TI's MSP430Flasher executable");
        };
        Command::new(flasher)
            .args(["-n", "MSP430FR5994", "-w"])
            .arg(hex)
            .args(["-v", "-z", "[VCC,RESET]"])
            .status()
    } else {
        Command::new("mspdebug")
            .arg("tilib")
            .arg(format!("prog {}", hex.display()))
            .status()
    };
    match status {
        Ok(s) if s.success() => {
            println!("flash: done; the board boots the new image");
            Ok(())
        }
        Ok(s) => bail!(
            "{tool} failed ({s}): is a LaunchPad connected (the eZ-FET's USB), and is TI's libmsp430.so \
             installed (mspdebug tilib needs it)? See README, 'Flashing a LaunchPad'. The image is at {}",
            hex.display()
        ),
        Err(e) => bail!(
            "cannot start {tool}: {e} (install mspdebug, or set MSP430_FLASHER); the image is at {}",
            hex.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a HEX image back into the LaunchPad's high FRAM.
    fn load(hex: &str) -> Image {
        let mut image = Image {
            words: vec![None; LAUNCHPAD.nvm_words as usize],
        };
        let mut upper = 0u32;
        for r in ihex::Reader::new(hex) {
            match r.unwrap() {
                Record::ExtendedLinearAddress(u) => upper = u32::from(u) << 16,
                Record::Data { offset, value } => {
                    let at = upper + u32::from(offset);
                    if at < LAUNCHPAD_NVM_BASE {
                        continue; // the firmware itself
                    }
                    for (k, pair) in value.chunks(2).enumerate() {
                        let w = ((at - LAUNCHPAD_NVM_BASE) / 2) as usize + k;
                        image.words[w] = Some(i16::from_le_bytes([pair[0], pair[1]]));
                    }
                }
                _ => {}
            }
        }
        image
    }

    /// A plan for the test (the workspace's own builder would make xtask depend on the host).
    fn test_plan() -> Vec<u8> {
        use inas_common::plan::*;
        use inas_common::{ExecDesign, LoopOrder};
        let layer = LayerDesc {
            kind: LayerKind::Dense,
            input: Shape { h: 1, w: 1, c: 4 },
            output: Shape { h: 1, w: 1, c: 2 },
            kh: 1,
            kw: 1,
            relu: false,
            weights: TensorRef { offset: 0, len: 8 },
            bias: TensorRef { offset: 8, len: 2 },
            shift: 15,
            out_exp: 0,
            design: ExecDesign {
                tr: 1,
                tc: 1,
                tm: 2,
                tn: 4,
                order: LoopOrder::ReuseO,
                batch: 1,
            },
        };
        let mut layers = heapless::Vec::new();
        layers.push(layer).unwrap();
        let meta = PlanMeta {
            plan_id: 77,
            target: Target {
                vm_bytes: 2048,
                nvm_bytes: 1000,
                profile: [0; 16],
            },
            input: Shape { h: 1, w: 1, c: 4 },
            input_exp: 0,
            preprocess: heapless::Vec::new(),
            layers,
        };
        let tensors: Vec<i16> = (0..10).map(|i| i * 1000).collect();
        let mut out = vec![0; encoded_len(&meta, tensors.len()).unwrap()];
        encode(&meta, &tensors, &mut out).unwrap();
        out
    }

    const FIRMWARE_HEX: &str = ":020000040000FA\n:044000003140002427\n:00000001FF\n";

    #[test]
    fn the_flashed_image_boots_into_the_plan_and_its_armed_run() {
        let plan = test_plan();
        let input = [16384i16, -16384, 8192, 0];
        let records = plan_records(&plan, Some(&input)).unwrap();
        let hex = merge(FIRMWARE_HEX, &records).unwrap();
        assert!(hex.starts_with(":020000040000FA\n:044000003140002427\n"));
        assert!(hex.trim_end().ends_with(":00000001FF"));
        assert_eq!(hex.matches(":00000001FF").count(), 1);
        let mut image = load(&hex);
        let mut session = Session::new(LAUNCHPAD);
        session.boot(&mut image).unwrap();
        assert_eq!(session.plan_id(), Some(77));
        assert!(session.running(), "the armed run resumes at first boot");
        let mut vm = vec![0; LAUNCHPAD.vm_words as usize];
        let msg = loop {
            match session.step(&mut image, &mut vm).unwrap() {
                inas_common::session::Stepped::Committed { .. } => {}
                inas_common::session::Stepped::Finished(m) => break m,
            }
        };
        let inas_common::wire::DeviceMsg::Result(r) = msg else {
            panic!("{msg:?}");
        };
        // y_j = sum_i x_i w_ji >> 15 + b_j, with w = 0, 1000, ..., 7000 and b = 8000, 9000.
        let w = |j: i32, i: i32| (j * 4 + i) * 1000;
        let x = [16384, -16384, 8192, 0];
        let want: Vec<i16> = (0..2)
            .map(|j| {
                let acc: i32 = (0..4).map(|i| x[i as usize] * w(j, i)).sum();
                ((acc + (1 << 14)) >> 15) as i16 + (8000 + 1000 * j) as i16
            })
            .collect();
        assert_eq!(r.logits.to_vec(), want);
    }

    #[test]
    fn a_plan_the_board_refuses_is_not_flashed() {
        let mut plan = test_plan();
        plan[30] ^= 0xFF;
        assert!(plan_records(&plan, None).is_err());
        let too_long = [0i16; 5];
        assert!(plan_records(&test_plan(), Some(&too_long)).is_err());
    }

    #[test]
    fn flags_are_checked_before_anything_is_built() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(parse(&s(&["--tool", "jtag"])).is_err());
        assert!(parse(&s(&["--input", "x.json"])).is_err());
        assert!(parse(&s(&["--plan"])).is_err());
        assert!(parse(&s(&["--bogus"])).is_err());
        let a = parse(&s(&["--plan", "p", "--tool", "msp430flasher"])).unwrap();
        assert_eq!(a.tool, "msp430flasher");
    }
}
