using AvBert.Config;
using AvBert.Data;
using AvBert.Downstream;
using AvBert.Model;
using AvBert.Runs;
using AvBert.Tests.Runs;
using TorchSharp.PyBridge;
using Xunit.Abstractions;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Tests.Export.Onnx;

/// <summary>`extract` and `predict` with `--runtime onnx` give what the libtorch path gives, on a tiny model and real files.</summary>
public class OnnxRuntimeTests(ITestOutputHelper output)
{
    static AvBertConfig Config(params string[] sets) => ConfigLoader.Load("small", null, [.. LabeledMediaFixture.TinySets, .. sets]);

    static List<string> Files(string name)
    {
        var dir = TestSetup.TempDir(name);
        var files = new List<string>();
        foreach (var (colour, hz) in new[] { ("red", 440), ("blue", 660) })
        {
            var path = Path.Combine(dir, colour + ".mp4");
            TestMedia.Run(["-y", "-v", "error", "-f", "lavfi", "-i", $"testsrc2=s=48x40:r=15:d=1,drawbox=c={colour}:t=8", "-f", "lavfi",
                           "-i", $"aevalsrc=exprs='0.4*sin(2*PI*{hz}*t)':s=16000:d=1", "-c:v", "mpeg4", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "1", "-shortest", path]);
            files.Add(path);
        }
        return files;
    }

    [Fact]
    public void Extract_with_the_onnx_runtime_writes_the_libtorch_features()
    {
        var cfg = Config();
        using var model = new AvBertModel(cfg.Model, cfg.Data);
        OnnxExportTests.Randomize(model, 5);
        var files = Files("onnx-extract-media");
        var source = FeatureExport.Videos(null, "all", files, cfg.Data, new SkippedLog(null));
        var torchFiles = FeatureExport.Run(model, cfg, source, TestSetup.TempDir("onnx-extract-torch"), CPU);
        var onnxFiles = FeatureExport.Run(model, cfg, source, TestSetup.TempDir("onnx-extract-onnx"), CPU, runtime: InferenceRuntime.Onnx);
        Assert.Equal(torchFiles.Count, onnxFiles.Count);
        double worst = 0;
        for (int i = 0; i < torchFiles.Count; i++)
        {
            var a = Safetensors.LoadStateDict(torchFiles[i].Features);
            var b = Safetensors.LoadStateDict(onnxFiles[i].Features);
            Assert.Equal(a.Keys.Order(), b.Keys.Order());
            Assert.Contains("multimodal_transformer", a.Keys);
            foreach (var (k, t) in a)
            {
                using var x = t.to(float64);
                using var y = b[k].to(float64);
                double ratio = (x - y).abs().max().item<double>() / Math.Max(x.abs().max().item<double>(), 1e-30);
                worst = Math.Max(worst, ratio);
                Assert.True(ratio <= OnnxExportTests.Tolerance, $"{Path.GetFileName(torchFiles[i].Source)} {k}: ratio {ratio:g3}");
            }
        }
        output.WriteLine($"worst ratio {worst:g3}");
    }

    [Theory]
    [InlineData("audiovisual")]
    [InlineData("visual")]
    public void Predict_with_the_onnx_runtime_gives_the_libtorch_probabilities(string task)
    {
        var cfg = Config($"downstream.task={task}", "downstream.class_names=[a, b, c]", "downstream.visual.test_clips=2", "downstream.visual.test_crops=2");
        using var transfer = new TransferModel(new AvBertModel(cfg.Model, cfg.Data), TransferModelDirectory.OptionsFor(cfg));
        OnnxExportTests.Randomize(transfer, 9);
        transfer.eval();
        var files = Files("onnx-predict-media-" + task);
        var libtorch = Prediction.Run(transfer, cfg, files, CPU, k: 3);
        using var onnx = OnnxInference.ForPrediction(transfer, cfg, cuda: false);
        Assert.Equal("CPU", onnx.Provider);
        var ort = Prediction.Run(transfer, cfg, files, CPU, k: 3, forward: onnx.Logits);
        Assert.Equal(libtorch.Count, ort.Count);
        for (int i = 0; i < libtorch.Count; i++)
        {
            output.WriteLine($"{libtorch[i].Path}: {string.Join(" ", libtorch[i].Top.Select(s => $"{s.Name}:{s.Probability:0.000000}"))} | " +
                             string.Join(" ", ort[i].Top.Select(s => $"{s.Name}:{s.Probability:0.000000}")));
            Assert.Equal(libtorch[i].Top.Select(s => s.Name), ort[i].Top.Select(s => s.Name));
            foreach (var (x, y) in libtorch[i].Top.Zip(ort[i].Top)) Assert.Equal(x.Probability, y.Probability, 1e-5);
        }
    }
}
