using AvBert.Model;
using AvBert.Model.Reference;
using AvBert.Runtime;
using AvBert.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Runs;

/// <summary>What `forward` wrote, and its comparison with the reference outputs in the inputs file (empty when it had none).</summary>
/// <param name="Outputs">The output.* tensors written (on the CPU).</param>
public sealed record ForwardResult(IReadOnlyDictionary<string, Tensor> Outputs, IReadOnlyList<OutputComparison> Comparisons,
                                   IReadOnlyDictionary<string, Tensor> Inputs)
{
    /// <summary>Every compared output is within <see cref="ReferenceOutputs.Tolerance"/> (docs/PARITY.md).</summary>
    public bool Matches => Comparisons.All(k => k.Ok);

    /// <summary>The tolerance of the comparison: max|ours − ref| ≤ Tolerance · max|ref| (<see cref="ReferenceOutputs.Tolerance"/>).</summary>
    public double Tolerance => ReferenceOutputs.Tolerance;

    /// <summary>0, or <see cref="ExitCodes.ParityMismatch"/> when an output does not match the reference.</summary>
    public int ExitCode => Matches ? ExitCodes.Ok : ExitCodes.ParityMismatch;
}

/// <summary>
/// `avbert forward` as a library call: a model directory run (eval mode) on input.visual / input.audio from a
/// safetensors file; writes the output.* tensors and compares them with the file's own output.* tensors, if any
/// (the parity check of docs/PARITY.md).
/// </summary>
public static class ForwardRun
{
    public static ForwardResult Run(string modelDir, string inputsPath, string outPath, Device device)
    {
        if (device.type == DeviceType.CUDA)
        {
            // A parity check runs in strict fp32: no TF32 tensor-core maths in cuDNN convolutions or cuBLAS matmuls.
            torch.backends.cudnn.allow_tf32 = false;
            torch.backends.cuda.matmul.allow_tf32 = false;
        }
        if (!File.Exists(inputsPath)) throw new UserError($"--inputs {inputsPath}: file not found.");
        var (cfg, model) = ModelDirectory.Load(modelDir, device);
        using var _m = model;
        // Inputs and reference outputs are data, not weights: validated, but NaN passes through to the outputs.
        var io = SafetensorsFile.ReadAll(inputsPath, new SafetensorsReadOptions { RequireFinite = false });
        var cpu = ReferenceOutputs.Run(model, cfg, io, inputsPath, device);
        SafetensorsFile.Write(outPath, cpu);
        return new ForwardResult(cpu, ReferenceOutputs.Compare(cpu, io), io);
    }
}
