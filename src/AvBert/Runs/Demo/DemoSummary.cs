using System.Text.Json;
using System.Text.Json.Serialization;

namespace AvBert.Runs;

/// <summary>Probe accuracies (fractions) and audio→video retrieval R@1 of one model.</summary>
public sealed record DemoScores(
    [property: JsonPropertyName("visual")] double Visual,
    [property: JsonPropertyName("audio")] double Audio,
    [property: JsonPropertyName("audiovisual")] double AudioVisual,
    [property: JsonPropertyName("retrieval_r1")] double RetrievalR1);

/// <summary>Probe accuracies (fractions) on the CNNs' pooled features (before the Transformers).</summary>
public sealed record DemoCnnScores(
    [property: JsonPropertyName("visual")] double Visual,
    [property: JsonPropertyName("audio")] double Audio,
    [property: JsonPropertyName("audiovisual")] double AudioVisual);

/// <summary>The same comparison on the CNN features (the paper's frozen-CNN protocol).</summary>
public sealed record DemoCnnComparison(
    [property: JsonPropertyName("random_init")] DemoCnnScores RandomInit,
    [property: JsonPropertyName("pretrained")] DemoCnnScores Pretrained,
    [property: JsonPropertyName("random_init_bn_recalibrated")] DemoCnnScores? RandomInitRecalibrated);

/// <summary>DIR/summary.json.</summary>
public sealed record DemoSummary(
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("chance")] double Chance,
    [property: JsonPropertyName("random_init")] DemoScores RandomInit,
    [property: JsonPropertyName("pretrained")] DemoScores Pretrained,
    [property: JsonPropertyName("retrieval_chance")] double RetrievalChance,
    [property: JsonPropertyName("seed")] int Seed,
    [property: JsonPropertyName("pretrain_steps")] long PretrainSteps,
    [property: JsonPropertyName("pretrain_seconds")] double PretrainSeconds,
    [property: JsonPropertyName("probe_train_videos")] int ProbeTrainVideos,
    [property: JsonPropertyName("probe_test_videos")] int ProbeTestVideos,
    [property: JsonPropertyName("retrieval_videos")] int RetrievalVideos,
    [property: JsonPropertyName("classes")] int Classes,
    [property: JsonPropertyName("cpu_threads")] int CpuThreads,
    [property: JsonPropertyName("cpu_seconds")] double CpuSeconds,
    [property: JsonPropertyName("random_init_bn_recalibrated")] DemoScores? RandomInitRecalibrated,
    [property: JsonPropertyName("cnn_features")] DemoCnnComparison Cnn,
    [property: JsonPropertyName("data")] string Data = "toy-av",
    [property: JsonPropertyName("protocol")] string? Protocol = null)
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
}
