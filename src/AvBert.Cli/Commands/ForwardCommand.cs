using System.CommandLine;
using AvBert.Runs;

namespace AvBert.Cli.Commands;

/// <summary>`avbert forward`: run a model directory on input.visual / input.audio from a safetensors file (eval mode).</summary>
public static class ForwardCommand
{
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
            var outPath = r.GetValue(output)!;
            var result = ForwardRun.Run(r.GetValue(modelDir)!, r.GetValue(inputs)!, outPath, device.Resolve(r));
            Console.WriteLine($"wrote {outPath}: " + string.Join(", ", result.Outputs.Select(kv => $"{kv.Key} [{string.Join(", ", kv.Value.shape)}]")));
            if (result.Comparisons.Count == 0) return 0;
            Console.WriteLine($"compared with the outputs in {r.GetValue(inputs)} (tolerance max|ours−ref| ≤ {result.Tolerance:g} · max|ref|):");
            foreach (var k in result.Comparisons)
                Console.WriteLine(k.ShapeMatches
                    ? $"  {k.Key}: max|diff| {k.MaxDiff:g3}, max|ref| {k.MaxRef:g3}, ratio {k.MaxDiff / k.MaxRef:g3}  {(k.Ok ? "ok" : "MISMATCH")}"
                    : $"  {k.Key}: shape [{string.Join(", ", result.Outputs[k.Key].shape)}] vs reference [{string.Join(", ", result.Inputs[k.Key].shape)}]  MISMATCH");
            Console.WriteLine(result.Matches ? "all outputs match the reference." : "some outputs do NOT match the reference.");
            return result.ExitCode;
        });
        return c;
    }
}
