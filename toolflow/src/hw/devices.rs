//! FPGA device targets: resources of the parts challenges ask for, the
//! Yosys family name and a speed factor for the delay model.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// FPGA family, as Yosys `synth_xilinx -family` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// 7-series (Artix-7, Kintex-7, Zynq-7000): LUT6, CARRY4, DSP48E1, RAMB36E1.
    Series7,
    /// UltraScale: LUT6, CARRY8, DSP48E2, RAMB36E2.
    UltraScale,
    /// UltraScale+: as UltraScale, faster fabric, URAM.
    UltraScalePlus,
}

impl Family {
    /// The `synth_xilinx -family` argument.
    pub fn yosys(self) -> &'static str {
        match self {
            Family::Series7 => "xc7",
            Family::UltraScale => "xcu",
            Family::UltraScalePlus => "xcup",
        }
    }

    /// Delay scale relative to 7-series speed grade -1.
    pub fn speed_factor(self) -> f64 {
        match self {
            Family::Series7 => 1.0,
            Family::UltraScale => 0.8,
            Family::UltraScalePlus => 0.65,
        }
    }

    /// Name of the family's DSP primitive.
    pub fn dsp_cell(self) -> &'static str {
        match self {
            Family::Series7 => "DSP48E1",
            _ => "DSP48E2",
        }
    }
}

/// One FPGA part and its resources.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    /// Short name (`xc7a100t`).
    pub name: &'static str,
    /// A full Vivado part string (package and speed grade).
    pub part: &'static str,
    pub family: Family,
    /// Marketing family (`Artix-7`).
    pub series: &'static str,
    pub lut: u64,
    pub ff: u64,
    pub dsp: u64,
    /// 36 Kb block RAMs.
    pub bram36: u64,
}

/// An owned copy of a [`Device`] (what reports store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub name: String,
    pub part: String,
    pub family: Family,
    pub series: String,
    pub lut: u64,
    pub ff: u64,
    pub dsp: u64,
    pub bram36: u64,
}

impl From<&Device> for DeviceInfo {
    fn from(d: &Device) -> Self {
        DeviceInfo {
            name: d.name.into(),
            part: d.part.into(),
            family: d.family,
            series: d.series.into(),
            lut: d.lut,
            ff: d.ff,
            dsp: d.dsp,
            bram36: d.bram36,
        }
    }
}

/// The device table.
pub const DEVICES: &[Device] = &[
    Device {
        name: "xc7a35t",
        part: "xc7a35tcpg236-1",
        family: Family::Series7,
        series: "Artix-7",
        lut: 20_800,
        ff: 41_600,
        dsp: 90,
        bram36: 50,
    },
    Device {
        name: "xc7a100t",
        part: "xc7a100tcsg324-1",
        family: Family::Series7,
        series: "Artix-7",
        lut: 63_400,
        ff: 126_800,
        dsp: 240,
        bram36: 135,
    },
    Device {
        name: "xc7a200t",
        part: "xc7a200tsbg484-1",
        family: Family::Series7,
        series: "Artix-7",
        lut: 134_600,
        ff: 269_200,
        dsp: 740,
        bram36: 365,
    },
    Device {
        name: "xc7z020",
        part: "xc7z020clg400-1",
        family: Family::Series7,
        series: "Zynq-7000",
        lut: 53_200,
        ff: 106_400,
        dsp: 220,
        bram36: 140,
    },
    Device {
        name: "xc7k325t",
        part: "xc7k325tffg900-2",
        family: Family::Series7,
        series: "Kintex-7",
        lut: 203_800,
        ff: 407_600,
        dsp: 840,
        bram36: 445,
    },
    Device {
        name: "xcku115",
        part: "xcku115-flvb2104-2-e",
        family: Family::UltraScale,
        series: "Kintex UltraScale",
        lut: 663_360,
        ff: 1_326_720,
        dsp: 5_520,
        bram36: 2_160,
    },
    Device {
        name: "xczu9eg",
        part: "xczu9eg-ffvb1156-2-e",
        family: Family::UltraScalePlus,
        series: "Zynq UltraScale+",
        lut: 274_080,
        ff: 548_160,
        dsp: 2_520,
        bram36: 912,
    },
    Device {
        name: "xcvu9p",
        part: "xcvu9p-flga2104-2L-e",
        family: Family::UltraScalePlus,
        series: "Virtex UltraScale+",
        lut: 1_182_240,
        ff: 2_364_480,
        dsp: 6_840,
        bram36: 2_160,
    },
    Device {
        name: "xcvu13p",
        part: "xcvu13p-flga2577-2-e",
        family: Family::UltraScalePlus,
        series: "Virtex UltraScale+",
        lut: 1_728_000,
        ff: 3_456_000,
        dsp: 12_288,
        bram36: 2_688,
    },
];

/// Default target.
pub const DEFAULT_DEVICE: &str = "xc7a100t";
/// Default clock period (ns).
pub const DEFAULT_CLOCK_NS: f64 = 5.0;

/// Finds a device by short name or by a part string that starts with it
/// (`xc7a100tcsg324-1` finds `xc7a100t`), case-insensitively.
pub fn device(name: &str) -> Result<&'static Device> {
    let n = name.trim().to_ascii_lowercase();
    DEVICES
        .iter()
        .filter(|d| n == d.name || n == d.part.to_ascii_lowercase() || n.starts_with(d.name))
        .max_by_key(|d| d.name.len())
        .ok_or_else(|| {
            let names: Vec<&str> = DEVICES.iter().map(|d| d.name).collect();
            Error::Hardware(format!(
                "unknown target '{name}'; known parts: {}",
                names.join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup() {
        assert_eq!(device("xc7a100t").unwrap().dsp, 240);
        assert_eq!(device("XC7A100TCSG324-1").unwrap().name, "xc7a100t");
        assert_eq!(device("xcvu13p").unwrap().family.yosys(), "xcup");
        assert_eq!(device("xcku115").unwrap().family, Family::UltraScale);
        assert!(device("xc7a35").is_err());
        for req in [
            "xc7a35t", "xc7a100t", "xc7z020", "xcku115", "xcvu9p", "xcvu13p",
        ] {
            assert!(device(req).is_ok(), "{req}");
        }
    }
}
