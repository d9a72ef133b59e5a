using AvBert.Config;
using AvBert.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Training;

/// <summary>
/// The arithmetic of a run's training step and evaluation (<see cref="TrainConfig.Precision"/>): resolves auto (bf16 on CUDA, fp32
/// on the CPU), sets the process-wide TF32 switches and cudnn.benchmark on CUDA, and gives the autocast region the
/// forward and the loss run in (backward runs outside it, as in PyTorch). bf16 falls back to fp32 with a warning where
/// the loaded libtorch lacks the autocast exports. No loss scaling: bfloat16 has float32's exponent range.
/// </summary>
public sealed class MixedPrecision
{
    public Precision Precision { get; }
    public Device Device { get; }

    MixedPrecision(Precision precision, Device device)
    {
        Precision = precision;
        Device = device;
    }

    /// <summary>fp32 without changing any process-wide switch (tests, tools).</summary>
    public static MixedPrecision Fp32(Device device) => new(Precision.Fp32, device);

    /// <summary>
    /// The precision a run's config asks for (train.precision, or the deprecated pretrain.precision with a note), or
    /// <paramref name="requested"/> when given (a command-line override), set up for <paramref name="device"/>.
    /// </summary>
    public static MixedPrecision For(AvBertConfig config, Device device, TextWriter? log = null, Precision? requested = null)
    {
        if (requested is null && TrainConfig.DeprecationNote(config) is { } note) (log ?? Console.Error).WriteLine(note);
        return Setup(requested ?? TrainConfig.Resolve(config), device, log);
    }

    /// <summary>Resolves <paramref name="requested"/> for <paramref name="device"/> and applies the process-wide switches.</summary>
    public static MixedPrecision Setup(Precision requested, Device device, TextWriter? log = null)
    {
        bool cuda = device.type == DeviceType.CUDA;
        var p = requested == Precision.Auto ? (cuda ? Precision.Bf16 : Precision.Fp32) : requested;
        if (p == Precision.Bf16 && !Autocast.Available)
        {
            (log ?? Console.Error).WriteLine($"warning: precision bf16 needs libtorch's autocast, which this libtorch lacks ({LibTorchExports.Missing}): training in fp32.");
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
        return new MixedPrecision(p, device);
    }

    /// <summary>The region for a step's forward and loss: autocast to bfloat16 for bf16, nothing otherwise.</summary>
    public IDisposable Region() => Precision == Precision.Bf16 ? Autocast.Enter(Device, ScalarType.BFloat16) : NoRegion.Instance;

    sealed class NoRegion : IDisposable
    {
        public static readonly NoRegion Instance = new();
        public void Dispose() { }
    }

    public override string ToString() => Precision.ToString().ToLowerInvariant();
}
