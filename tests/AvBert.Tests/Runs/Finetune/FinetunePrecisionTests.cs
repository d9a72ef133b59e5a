using AvBert.Config;
using AvBert.Runs;
using AvBert.Runtime;
using AvBert.Training;
using static TorchSharp.torch;

namespace AvBert.Tests.Runs;

/// <summary>train.precision reaches fine-tuning and evaluation through the same mixed-precision mechanism as pretraining.</summary>
[Collection(AvBert.Tests.Training.TorchRngCollection.Name)]
public sealed class FinetunePrecisionTests(LabeledMediaFixture media) : IClassFixture<LabeledMediaFixture>
{
    static (List<MetricsRow> Rows, string Log) Finetune(string run, string data, string precision)
    {
        var cfg = FinetuneRun.PrepareRunDirectory(run, () => ConfigLoader.Load("small", null, [.. LabeledMediaFixture.TinySets,
            "downstream.task=visual", "downstream.visual.epochs=2", "downstream.visual.train_samples_per_video=1", "downstream.visual.batch_size=3",
            "downstream.visual.test_clips=1", "downstream.visual.test_crops=1", "downstream.log_every=1", $"train.precision={precision}"]), null, resume: false);
        var log = new StringWriter();
        FinetuneRun.Run(cfg, new FinetuneOptions { RunDir = run, Data = data, Device = CPU, Progress = ProgressMode.Off, Log = log });
        return (MetricsLog.Read(Path.Combine(run, "metrics.jsonl")).Where(r => r.Values.ContainsKey("loss")).ToList(), log.ToString());
    }

    [Fact]
    public void Bf16_finetuning_runs_end_to_end_on_the_cpu_close_to_fp32_and_eval_follows_the_runs_precision()
    {
        var data = "classes:" + media.ClassesDir;
        var fp32 = Finetune(TestSetup.TempDir("ft-fp32"), data, "fp32");
        bool oneDnn = LibTorchContext.OneDnnEnabled;
        try
        {
            var run = TestSetup.TempDir("ft-bf16");
            var bf16 = Finetune(run, data, "bf16");
            Assert.Contains("cpu, bf16", bf16.Log);
            Assert.Contains("cpu, fp32", fp32.Log);
            Assert.Equal(fp32.Rows.Count, bf16.Rows.Count);
            Assert.All(bf16.Rows, r => Assert.True(double.IsFinite(r.Values["loss"]), $"step {r.Step}: loss {r.Values["loss"]}"));
            // Step 1: same initial weights and the same batch, so the losses differ only by the arithmetic.
            double a = fp32.Rows[0].Values["loss"], b = bf16.Rows[0].Values["loss"];
            Assert.True(Math.Abs(b - a) <= 0.05 * Math.Abs(a), $"bf16 first loss {b} vs fp32 {a}");
            Assert.NotEqual(a, b);                                                // bf16 really ran

            // eval reads train.precision from the run's config (bf16 here); --precision overrides it.
            var evalLog = new StringWriter();
            var inRunPrecision = EvalRun.Run(run, data, "test", Path.Combine(run, "eval", "metrics.json"), CPU, log: evalLog);
            Assert.Contains("cpu, bf16", evalLog.ToString());
            var test = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "metrics.json"))).RootElement;
            Assert.Equal(test.GetProperty("top1").GetDouble(), inRunPrecision.Top1, 6);    // the same as finetune's own bf16 test
            var fp32Log = new StringWriter();
            var strict = EvalRun.Run(run, data, "test", Path.Combine(run, "eval32", "metrics.json"), CPU, log: fp32Log, precision: Precision.Fp32);
            Assert.Contains("cpu, fp32", fp32Log.ToString());
            Assert.Equal(inRunPrecision.Count, strict.Count);
        }
        finally { LibTorchContext.OneDnnEnabled = oneDnn; }
    }
}
