using AvBert.Config;
using AvBert.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Training;

/// <summary>
/// The arithmetic of a run's training step and evaluation (<see cref="TrainConfig.Precision"/>): resolves auto (bf16 on
/// GPUs with bfloat16 — compute capability 8.0 and up —, fp16 on older ones, fp32 on the CPU; the choice is in
/// <see cref="ToString"/>, which the commands' start lines print), sets the process-wide TF32 switches and
/// cudnn.benchmark on CUDA, and gives the autocast region the forward and the loss run in (backward runs outside it, as
/// in PyTorch). bf16 and fp16 fall back to fp32 with a warning where the loaded libtorch lacks the autocast exports.
/// bf16 needs no loss scaling (float32's exponent range); fp16 brings its <see cref="Scaler"/>.
/// </summary>
public sealed class MixedPrecision
{
    public Precision Precision { get; }
    public Device Device { get; }
    /// <summary>fp16's dynamic loss scaling (null for every other precision).</summary>
    public LossScaler? Scaler { get; }
    /// <summary>Why auto chose <see cref="Precision"/> (null when it was asked for by name).</summary>
    public string? AutoReason { get; }

    MixedPrecision(Precision precision, Device device, LossScaler? scaler = null, string? autoReason = null)
    {
        Precision = precision;
        Device = device;
        Scaler = scaler;
        AutoReason = autoReason;
    }

    /// <summary>fp32 without changing any process-wide switch (tests, tools).</summary>
    public static MixedPrecision Fp32(Device device) => new(Precision.Fp32, device);

    /// <summary>fp32 arithmetic with fp16's loss scaling: the scaler's whole path on a CPU (tests; fp16 compute needs a GPU).</summary>
    internal static MixedPrecision Fp32WithScaler(Device device, LossScaler scaler) => new(Precision.Fp32, device, scaler);

    /// <summary>
    /// The precision a run's config asks for (train.precision, or the deprecated pretrain.precision with a note), or
    /// <paramref name="requested"/> when given (a command-line override), set up for <paramref name="device"/>.
    /// </summary>
    public static MixedPrecision For(AvBertConfig config, Device device, TextWriter? log = null, Precision? requested = null)
    {
        if (requested is null && TrainConfig.DeprecationNote(config) is { } note) (log ?? Console.Error).WriteLine(note);
        return Setup(requested ?? TrainConfig.Resolve(config), device, log, config.Train);
    }

    /// <summary>Resolves <paramref name="requested"/> for <paramref name="device"/> and applies the process-wide switches
    /// (fp16's loss scaling as <paramref name="train"/> says, else GradScaler's defaults).</summary>
    public static MixedPrecision Setup(Precision requested, Device device, TextWriter? log = null, TrainConfig? train = null)
    {
        bool cuda = device.type == DeviceType.CUDA;
        string? reason = null;
        var p = requested;
        if (requested == Precision.Auto) (p, reason) = Auto(device);
        if (p is Precision.Bf16 or Precision.Fp16 && !Autocast.Available)
        {
            (log ?? Console.Error).WriteLine($"warning: precision {Name(p)} needs libtorch's autocast, which this libtorch lacks ({LibTorchExports.Missing}): training in fp32.");
            p = Precision.Fp32;
        }
        if (p == Precision.Tf32 && !cuda) p = Precision.Fp32;     // TF32 is a CUDA (Ampere+) format: on the CPU it is fp32
        if (p == Precision.Bf16 && !cuda && LibTorchContext.Available && LibTorchContext.OneDnnEnabled)
        {
            // libtorch 2.10's oneDNN bf16 convolution weight gradients come out NaN now and then on AVX-512 CPUs (seen on a
            // Sapphire Rapids-class Xeon; docs/performance-and-gpu.md, "Training speed on a GPU"); ATen's own convolutions are right.
            LibTorchContext.OneDnnEnabled = false;
            (log ?? Console.Error).WriteLine("note: precision bf16 on the CPU uses ATen's convolutions (oneDNN's bf16 convolution gradients are unreliable on some CPUs); bf16 on a CPU is for checking, fp32 is faster there.");
        }
        if (cuda)
        {
            // Strict fp32 keeps TF32 off (parity); tf32 turns it on everywhere; bf16 lets convolutions and the few
            // matmuls autocast keeps in float32 use TF32 (the orthogonal maps run outside autocast in strict fp32 matmuls).
            backends.cuda.matmul.allow_tf32 = p == Precision.Tf32;
            backends.cudnn.allow_tf32 = p != Precision.Fp32;
            LibTorchExports.SetCuDnnBenchmark(true);
        }
        return new MixedPrecision(p, device, p == Precision.Fp16 ? LossScaler.From(train ?? new TrainConfig()) : null, reason);
    }

    /// <summary>What auto means on <paramref name="device"/>: bf16 where the GPU has bfloat16 (compute capability 8.0 and up,
    /// as torch.cuda.is_bf16_supported), fp16 on older GPUs (V100, T4), fp32 on the CPU; with the reason for the log.</summary>
    public static (Precision Precision, string Reason) Auto(Device device)
    {
        if (device.type != DeviceType.CUDA) return (Precision.Fp32, "auto: the CPU");
        var cc = CudaDevice.ComputeCapability(device.index < 0 ? 0 : device.index);
        return cc switch
        {
            null => (Precision.Bf16, "auto: the GPU's compute capability could not be read, bf16 assumed"),
            var (major, minor) when major >= 8 => (Precision.Bf16, $"auto: compute capability {major}.{minor} has bfloat16"),
            var (major, minor) => (Precision.Fp16, $"auto: compute capability {major}.{minor} has no bfloat16, fp16 with loss scaling"),
        };
    }

    /// <summary>The region for a step's forward and loss: autocast to bfloat16 for bf16, to float16 for fp16, nothing otherwise.</summary>
    public IDisposable Region() => Precision switch
    {
        Precision.Bf16 => Autocast.Enter(Device, ScalarType.BFloat16),
        Precision.Fp16 => Autocast.Enter(Device, ScalarType.Float16),
        _ => NoRegion.Instance,
    };

    sealed class NoRegion : IDisposable
    {
        public static readonly NoRegion Instance = new();
        public void Dispose() { }
    }

    /// <summary>"bf16", or with auto "bf16 (auto: compute capability 9.0 has bfloat16)".</summary>
    public override string ToString() => AutoReason is null || Device.type != DeviceType.CUDA ? Name(Precision) : $"{Name(Precision)} ({AutoReason})";

    static string Name(Precision p) => p.ToString().ToLowerInvariant();
}
