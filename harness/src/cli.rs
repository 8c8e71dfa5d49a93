//! Command-line definition (clap derive only; validated into options elsewhere).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// qbench: compare neural-network quantization techniques across frameworks and runtimes.
#[derive(Debug, Parser)]
#[command(name = "qbench", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// Folder holding the scenario files [default: $QBENCH_SCENARIOS, ./scenarios, or the
    /// source tree's scenarios/]
    #[arg(long, global = true, value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every technique on every backend for a scenario and print the comparison table.
    Compare(Box<CompareArgs>),
    /// Train a scenario's model with candle and export it to ONNX (release build advised).
    Train(TrainArgs),
    /// The fastest (or smallest) configuration that keeps top-1 within a bound: recipes and
    /// per-layer precision, decided on the calibration split, then measured by `compare`.
    Tune(TuneArgs),
    /// Where a technique loses accuracy: every quantized weight and activation against its FP32
    /// counterpart on the calibration split, and the output error when it alone is quantized.
    Debug(DebugArgs),
    /// List the available scenarios.
    Scenarios,
    /// Write a scenario file for an ONNX model, to edit and run with `compare --scenario`.
    Init(InitArgs),
    /// Show each backend's runtime version, or why it is unavailable (locates or provisions
    /// ONNX Runtime on first use).
    Backends,
    /// Measure what quantizing costs: calibration throughput and peak memory against FP32
    /// inference on the same backend, and each technique's rewrite time (one process each).
    CalibrationProfile(ProfileArgs),
    /// Write results/<scenario>/README.md and SVG charts from a results file.
    Publish(PublishArgs),
    /// Compare a run with a committed baseline; exit 0 (no regression), 1 (regressions) or 2
    /// (unusable input).
    Check(CheckArgs),
    /// Join the shards of a run (`compare --shard K/N`) and runs of other machines into one
    /// results file, the machine as a dimension; refuses files that do not belong together.
    Merge(MergeArgs),
    /// Internal: measure one cell in this process and print its record as JSON.
    #[command(hide = true)]
    Cell {
        /// The cell specification as JSON.
        spec: String,
    },
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Scenario to run (see `qbench scenarios`).
    #[arg(long, default_value = "resnet", conflicts_with = "model")]
    pub scenario: String,
    /// Any ONNX model, without a scenario file: seeded synthetic inputs, fidelity against FP32
    /// only (no accuracy); results in results/<model file stem>/.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Fix a model input's dynamic dimensions, batch first (e.g. input=1,3,224,224); the batch
    /// dimension is set by --batch.
    #[arg(long, value_name = "NAME=D0,D1,...")]
    pub input_shape: Vec<crate::model_io::InputShape>,
    /// With --model: synthetic evaluation samples [default: 256].
    #[arg(long, value_name = "N", requires = "model")]
    pub eval_samples: Option<usize>,
    /// Backends to run, comma-separated [default: every backend qbench has, see `qbench
    /// backends`].
    #[arg(long, value_delimiter = ',')]
    pub backends: Vec<String>,
    /// Techniques to run, comma-separated [default: all; see the README's recipe table].
    #[arg(long, value_delimiter = ',')]
    pub techniques: Vec<String>,
    /// Per-node precision of every QDQ technique (repeatable; added to the scenario's
    /// `overrides`): SELECTOR=PRECISION, the selector a node name, a name pattern with `*` or
    /// op:TYPE, the precision float, int16, int8, int4, per-channel or per-tensor (e.g.
    /// stem=float, block0.*=int16, op:Gemm=per-tensor).
    #[arg(long = "override", value_name = "SELECTOR=PRECISION")]
    pub overrides: Vec<qbench_quant::overrides::Override>,
    /// An already-quantized model to measure as a row of its own (repeatable): a QAT model
    /// exported by PyTorch, a tf2onnx conversion, ONNX Runtime's tool output. It must take the
    /// FP32 model's inputs and give its output; its format is read from the graph.
    #[arg(long, value_name = "NAME=FILE")]
    pub artifact: Vec<crate::imported::ImportedSpec>,
    /// Intra-op thread counts, comma-separated: each value is a row of every cell (sweep).
    #[arg(long, value_delimiter = ',', default_value = "2")]
    pub threads: Vec<usize>,
    /// Latency batch sizes, comma-separated: each value is a row of every cell (sweep).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub batch: Vec<usize>,
    /// Batch size of the throughput and accuracy runs [default: the scenario's, else 64].
    #[arg(long)]
    pub throughput_batch: Option<usize>,
    /// CI mode: the first 1,000 evaluation images (or the scenario's `[quick]` sizing) and short
    /// latency runs (marked in the results).
    #[arg(long)]
    pub quick: bool,
    /// Latency rounds per cell, each in a fresh process, interleaved with the other cells so
    /// that slow drifts of the machine spread over every cell [default: 10, quick: 2].
    #[arg(long)]
    pub rounds: Option<usize>,
    /// LoadGen rule: warm-up runs before each latency round [default: 10, quick: 3].
    #[arg(long)]
    pub warmup: Option<usize>,
    /// LoadGen rule: at least N timed latency runs per cell [default: 200, quick: 20].
    #[arg(long, value_name = "N")]
    pub min_iters: Option<usize>,
    /// LoadGen rule: at least T seconds of timed latency runs per cell [default: 3, quick: 0.25].
    #[arg(long, value_name = "T")]
    pub min_seconds: Option<f64>,
    /// LoadGen rule: at most this many seconds of latency runs per cell [default: 20, quick: 2].
    #[arg(long, value_name = "S")]
    pub max_seconds: Option<f64>,
    /// Folder for the results files [default: results/<scenario>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the run stopped (Ctrl-C, a kill, a crash) in the output folder: its finished
    /// cells and latency rounds are kept, only the rest is measured; refused when the scenario,
    /// settings, techniques, backends, qbench build or model differ.
    #[arg(long)]
    pub resume: bool,
    /// Per-cell time limit in seconds; a cell running longer is killed and marked failed.
    #[arg(long, default_value_t = 600)]
    pub cell_timeout: u64,
    /// Run shard K of N of the cells (technique x backend x batch x threads): a split that
    /// depends on the plan only, balanced by the cells' expected cost; the results go to
    /// `<stem>.shard-K-of-N.json`, to join with `qbench merge`. `1/1` is the whole run (and
    /// ignores the engines' variables).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<crate::shard::Shard>,
    /// Run one of N shards, its index from the engine: JOB_COMPLETION_INDEX (Kubernetes Indexed
    /// Job) or SLURM_ARRAY_TASK_ID (Slurm array). In a Slurm array with SLURM_ARRAY_TASK_COUNT
    /// set, neither flag is needed.
    #[arg(long, value_name = "N", conflicts_with = "shard")]
    pub shards: Option<usize>,
    /// The name of this machine in merged results (e.g. a CI runner label) [default: env
    /// QBENCH_MACHINE_LABEL, else CPU model, ISA class and cores].
    #[arg(long, value_name = "NAME")]
    pub machine_label: Option<String>,
    /// What to print on stdout: the terminal table, or the results as Markdown, CSV or JSON
    /// for piping (the files are written either way; progress goes to stderr).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Accept --threads above four per core of this machine (refused otherwise).
    #[arg(long)]
    pub allow_oversubscription: bool,
    /// Accept a --batch or --throughput-batch whose tensors may not fit in the memory this
    /// machine has available (refused otherwise, with the estimate).
    #[arg(long)]
    pub allow_large_batch: bool,
    /// Print every column in the terminal table (about 300 columns wide); the default table
    /// fits 120 columns, and the files always hold every column.
    #[arg(long)]
    pub wide: bool,
}

/// Stdout format of `compare`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Md,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct DebugArgs {
    /// Scenario whose model to debug (see `qbench scenarios`).
    #[arg(long, default_value = "resnet")]
    pub scenario: String,
    /// The technique whose artifact to debug (a QDQ recipe, see the README's recipe table).
    #[arg(long)]
    pub technique: String,
    /// Runtime whose arithmetic is measured.
    #[arg(long, default_value = "ort")]
    pub backend: String,
    /// Per-node precision overrides of the technique (repeatable, as `compare --override`).
    #[arg(long = "override", value_name = "SELECTOR=PRECISION")]
    pub overrides: Vec<qbench_quant::overrides::Override>,
    /// Calibration samples to run [default: the whole calibration split].
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Skip the per-tensor sensitivity runs (one model run per quantized tensor).
    #[arg(long)]
    pub no_sensitivity: bool,
    /// Rows of the printed table, most damaging first [default: all].
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// What to print on stdout (the files are written either way).
    #[arg(long, value_enum, default_value_t = DebugFormat::Table)]
    pub format: DebugFormat,
    /// Folder for the report files [default: results/<scenario>/debug].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Scenario to tune (see `qbench scenarios`).
    #[arg(long, default_value = "resnet")]
    pub scenario: String,
    /// Largest top-1 drop against FP32 to accept, in points, on the tuning split.
    #[arg(long, value_name = "POINTS")]
    pub max_drop: f64,
    /// What to minimize among the configurations that keep the bound.
    #[arg(long, value_enum, default_value_t = crate::tune::Objective::Latency)]
    pub objective: crate::tune::Objective,
    /// The runtime the model will be deployed on (latency and accuracy are measured there).
    #[arg(long, default_value = "ort")]
    pub backend: String,
    /// Recipes to start from, comma-separated [default: all].
    #[arg(long, value_delimiter = ',')]
    pub techniques: Vec<String>,
    /// Tuning samples: the first N of the calibration split [default: all of it].
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Most layers one fallback search returns to higher precision.
    #[arg(long, default_value_t = 8)]
    pub max_fallbacks: usize,
    /// Measure the result with `compare --quick` (1,000 evaluation images, short latency runs).
    #[arg(long)]
    pub quick: bool,
    /// Decide only; do not run `compare` on the evaluation split.
    #[arg(long)]
    pub no_evaluate: bool,
    /// Folder for the tuned artifact, the candidates and the evaluation [default:
    /// results/<scenario>/tune].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Stdout format of `debug`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DebugFormat {
    Table,
    Md,
    Json,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Scenario whose results to publish.
    #[arg(long, default_value = "resnet")]
    pub scenario: String,
    /// Results file to publish [default: compare.json in the output folder].
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Folder for README.md and the charts [default: results/<scenario>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Publish results from an unoptimized build (refused otherwise: its latencies are distorted).
    #[arg(long)]
    pub allow_unoptimized: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Results files (JSON written by `compare`, its shards, or earlier merges).
    #[arg(required = true, value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// Folder for the merged quick.* or compare.* files.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Write the merged results although shards are missing: their cells become failed rows
    /// that name the missing shard.
    #[arg(long)]
    pub allow_missing: bool,
    /// Join files written by different qbench versions.
    #[arg(long)]
    pub allow_mixed_versions: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The committed baseline results (JSON written by `compare`).
    #[arg(long, value_name = "FILE")]
    pub baseline: PathBuf,
    /// The run to check [default: quick.json or compare.json beside the baseline, matching the
    /// baseline's mode].
    #[arg(long, value_name = "FILE")]
    pub run: Option<PathBuf>,
    /// Allowed top-1 drop in points (the statistical noise is allowed when larger) [default:
    /// the scenario's [check] table, else 0.5].
    #[arg(long)]
    pub max_accuracy_drop: Option<f64>,
    /// Allowed artifact size growth in percent [default: scenario, else 5].
    #[arg(long)]
    pub max_size_growth: Option<f64>,
    /// Allowed growth in percent of a cell's p50 latency ratio to FP32 on the same backend
    /// [default: scenario, else 50].
    #[arg(long)]
    pub max_latency_ratio_growth: Option<f64>,
    /// Gate files from an unoptimized build (refused otherwise: their latencies are distorted).
    #[arg(long)]
    pub allow_unoptimized: bool,
    /// Measure every flagged latency ratio again (a fresh `compare` of those cells and their
    /// FP32 cells, twice the latency runs) and keep it a regression only if it reproduces: one
    /// slow measurement on a shared machine is not a regression.
    #[arg(long)]
    pub confirm: bool,
    /// Fail (exit 2) when the gate could not judge something (warnings): a skipped cell, or a
    /// scenario whose thresholds could not be read.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Scenario whose model and calibration split to use.
    #[arg(long, default_value = "resnet")]
    pub scenario: String,
    /// Techniques to profile, comma-separated [default: all].
    #[arg(long, value_delimiter = ',')]
    pub techniques: Vec<String>,
    /// Per-measurement time limit in seconds; a measurement running longer is killed and its
    /// row says so.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// Internal: run one measurement in this process.
    #[arg(long, hide = true)]
    pub child: Option<String>,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Scenario whose model to train.
    #[arg(long, default_value = "resnet")]
    pub scenario: String,
    /// Folder with the original training files [default: $QBENCH_DATA, then the Debian
    /// package's /usr/share/datasets/fashion-mnist].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Override the scenario's number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Train on the first N training images only (smoke tests).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Where to write the model [default: the scenario's model path].
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Fine-tune the scenario's trained FP32 model with quantization-aware training instead
    /// (pytorch-qat, tflite-qat, qat-4bit), writing the artifact, checkpoint and training log
    /// next to the model, where `compare` finds them.
    #[arg(long, value_name = "RECIPE", conflicts_with = "output")]
    pub qat: Option<qbench_qat::QatRecipe>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The ONNX model.
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// A folder of labelled images in the ImageFolder layout (one sub-folder per class) for
    /// evaluation [default: synthetic inputs, fidelity only].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Fix the model input's dynamic dimensions, batch first (e.g. input=1,3,224,224).
    #[arg(long, value_name = "NAME=D0,D1,...")]
    pub input_shape: Vec<crate::model_io::InputShape>,
    /// Scenario name [default: the model's file stem].
    #[arg(long)]
    pub name: Option<String>,
    /// Replace an existing scenario file.
    #[arg(long)]
    pub force: bool,
}
