using System.CommandLine;
using AvBert.Model;
using AvBert.Runtime;
using TorchSharp;
using AvBert.IO;
using static TorchSharp.torch;

namespace AvBert.Cli.Commands;

/// <summary>`avbert forward`: run a model directory on input.visual / input.audio from a safetensors file (eval mode).</summary>
public static class ForwardCommand
{
    /// <summary>Tolerance of docs/PARITY.md: max |ours − ref| ≤ 2e-4 · max |ref|.</summary>
    public const double Tolerance = 2e-4;

    public static Command Build()
    {
        var modelDir = new Option<string>("--model") { Description = "Model directory (config.yaml + weights.safetensors)", Required = true };
        var inputs = new Option<string>("--inputs") { Description = "safetensors with input.visual [B,T,3,F,H,W] and input.audio [B,T,1,FREQ,TIME]", Required = true };
        var output = new Option<string>("--out") { Description = "safetensors to write the output.* tensors to", Required = true };
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
            model.eval();
            // Inputs and reference outputs are data, not weights: validated, but NaN passes through to the outputs.
            var io = SafetensorsFile.ReadAll(inputsPath, new SafetensorsReadOptions { RequireFinite = false });
            Tensor Input(string key, int dims, string layout)
            {
                if (!io.TryGetValue(key, out var t))
                    throw new UserError($"--inputs {inputsPath}: no '{key}' tensor (has: {string.Join(", ", io.Keys.Order())}).");
                if (!t.is_floating_point())
                    throw new UserError($"--inputs {inputsPath}: '{key}' is {SafetensorsFile.Name(t.dtype)}; expected floating-point values (F32, or F16/BF16/F64, converted to F32).");
                if (t.dim() != dims)
                    throw new UserError($"--inputs {inputsPath}: '{key}' has shape [{string.Join(", ", t.shape)}]; expected {layout}.");
                return t.to(float32).to(dev);
            }
            var visual = Input("input.visual", 6, "[B, T, 3, F, H, W]");
            var audio = Input("input.audio", 5, "[B, T, 1, FREQ, TIME]");
            if (visual.shape[0] != audio.shape[0] || visual.shape[1] != audio.shape[1])
                throw new UserError($"--inputs {inputsPath}: input.visual and input.audio must agree on B and T " +
                                    $"([{visual.shape[0]}, {visual.shape[1]}] vs [{audio.shape[0]}, {audio.shape[1]}]).");
            if (visual.shape[1] + 1 > cfg.Model.Transformer.MaxPositions)
                throw new UserError($"--inputs {inputsPath}: T = {visual.shape[1]} clips need {visual.shape[1] + 1} positions but the model has " +
                                    $"model.transformer.max_positions = {cfg.Model.Transformer.MaxPositions}.");

            var results = new Dictionary<string, Tensor>();
            using (no_grad())
            {
                var o = model.forward(visual, audio);
                results["output.visual_pooled"] = o.VisualPooled;
                results["output.audio_pooled"] = o.AudioPooled;
                if (o.Context.Visual is not null) results["output.visual_transformer"] = o.Context.Visual;
                if (o.Context.Audio is not null) results["output.audio_transformer"] = o.Context.Audio;
                if (o.Context.Multimodal is not null) results["output.multimodal_transformer"] = o.Context.Multimodal;
            }
            var cpu = results.ToDictionary(kv => kv.Key, kv => kv.Value.cpu().contiguous());
            var outPath = r.GetValue(output)!;
            SafetensorsFile.Write(outPath, cpu);
            Console.WriteLine($"wrote {outPath}: " + string.Join(", ", cpu.Select(kv => $"{kv.Key} [{string.Join(", ", kv.Value.shape)}]")));

            var expected = cpu.Keys.Where(io.ContainsKey).ToList();
            if (expected.Count == 0) return 0;
            bool allOk = true;
            Console.WriteLine($"compared with the outputs in {inputsPath} (tolerance max|ours−ref| ≤ {Tolerance:g} · max|ref|):");
            foreach (var key in expected)
            {
                var reference = io[key].to(float32);
                if (!reference.shape.SequenceEqual(cpu[key].shape))
                {
                    Console.WriteLine($"  {key}: shape [{string.Join(", ", cpu[key].shape)}] vs reference [{string.Join(", ", reference.shape)}]  MISMATCH");
                    allOk = false;
                    continue;
                }
                double maxDiff = (cpu[key] - reference).abs().max().item<float>();
                double maxRef = reference.abs().max().item<float>();
                bool ok = maxDiff <= Tolerance * maxRef;
                allOk &= ok;
                Console.WriteLine($"  {key}: max|diff| {maxDiff:g3}, max|ref| {maxRef:g3}, ratio {maxDiff / maxRef:g3}  {(ok ? "ok" : "MISMATCH")}");
            }
            Console.WriteLine(allOk ? "all outputs match the reference." : "some outputs do NOT match the reference.");
            return allOk ? ExitCodes.Ok : ExitCodes.ParityMismatch;
        });
        return c;
    }
}
