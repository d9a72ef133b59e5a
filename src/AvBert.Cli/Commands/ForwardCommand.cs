using System.CommandLine;
using AvBert.Model;
using AvBert.Model.Reference;
using AvBert.Runtime;
using TorchSharp;
using AvBert.IO;
using static TorchSharp.torch;

namespace AvBert.Cli.Commands;

/// <summary>`avbert forward`: run a model directory on input.visual / input.audio from a safetensors file (eval mode).</summary>
public static class ForwardCommand
{
    /// <summary>Tolerance of docs/PARITY.md: max |ours − ref| ≤ 2e-4 · max |ref|.</summary>
    public const double Tolerance = ReferenceOutputs.Tolerance;

    public static Command Build()
    {
        var modelDir = CommonOptions.Model("Model directory (config.yaml + weights.safetensors)");
        var inputs = new Option<string>("--inputs") { Description = "safetensors with input.visual [B,T,3,F,H,W] and input.audio [B,T,1,FREQ,TIME]", Required = true };
        var output = CommonOptions.Out("safetensors to write the output.* tensors to");
        var device = new DeviceOption();
        var c = new Command("forward", "Run a model on input.visual/input.audio and write output.visual_pooled, output.audio_pooled, " +
                                       "output.visual_transformer, output.audio_transformer, output.multimodal_transformer; " +
                                       "when the inputs file also has output.* tensors, compare with them");
        c.Options.Add(modelDir);
        c.Options.Add(inputs);
        c.Options.Add(output);
        device.AddTo(c);
        c.SetAction(r =>
        {
            var dev = device.Resolve(r);
            if (dev.type == DeviceType.CUDA)
            {
                // A parity check runs in strict fp32: no TF32 tensor-core maths in cuDNN convolutions or cuBLAS matmuls.
                torch.backends.cudnn.allow_tf32 = false;
                torch.backends.cuda.matmul.allow_tf32 = false;
            }
            var inputsPath = r.GetValue(inputs)!;
            if (!File.Exists(inputsPath)) throw new UserError($"--inputs {inputsPath}: file not found.");
            var (cfg, model) = ModelDirectory.Load(r.GetValue(modelDir)!, dev);
            using var _m = model;
            // Inputs and reference outputs are data, not weights: validated, but NaN passes through to the outputs.
            var io = SafetensorsFile.ReadAll(inputsPath, new SafetensorsReadOptions { RequireFinite = false });
            var cpu = ReferenceOutputs.Run(model, cfg, io, inputsPath, dev);
            var outPath = r.GetValue(output)!;
            SafetensorsFile.Write(outPath, cpu);
            Console.WriteLine($"wrote {outPath}: " + string.Join(", ", cpu.Select(kv => $"{kv.Key} [{string.Join(", ", kv.Value.shape)}]")));

            var comparisons = ReferenceOutputs.Compare(cpu, io);
            if (comparisons.Count == 0) return 0;
            Console.WriteLine($"compared with the outputs in {inputsPath} (tolerance max|ours−ref| ≤ {Tolerance:g} · max|ref|):");
            foreach (var k in comparisons)
                Console.WriteLine(k.ShapeMatches
                    ? $"  {k.Key}: max|diff| {k.MaxDiff:g3}, max|ref| {k.MaxRef:g3}, ratio {k.MaxDiff / k.MaxRef:g3}  {(k.Ok ? "ok" : "MISMATCH")}"
                    : $"  {k.Key}: shape [{string.Join(", ", cpu[k.Key].shape)}] vs reference [{string.Join(", ", io[k.Key].shape)}]  MISMATCH");
            bool allOk = comparisons.All(k => k.Ok);
            Console.WriteLine(allOk ? "all outputs match the reference." : "some outputs do NOT match the reference.");
            return allOk ? ExitCodes.Ok : ExitCodes.ParityMismatch;
        });
        return c;
    }
}
