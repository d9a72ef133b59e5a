using System.Text.Json;
using System.Text.Json.Serialization;
using AvBert.Downstream.Probing;

namespace AvBert.Runs;

/// <summary>An accuracy (fraction) over the folds: mean, sample standard deviation (n − 1; 0 with one fold) and each fold's.</summary>
public sealed record FoldStatistic(double Mean, double Std, IReadOnlyList<double> Folds)
{
    public static FoldStatistic Of(IReadOnlyList<double> values)
    {
        double mean = values.Average();
        double std = values.Count < 2 ? 0 : Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        return new FoldStatistic(mean, std, values);
    }
}

/// <summary>One feature family's results: the logistic-regression probe, kNN per k ("1", "10", ...) and class retrieval
/// (leave-one-out cosine over the test videos).</summary>
public sealed record FamilyProbe(string Name, int Dimensions, FoldStatistic? Linear, IReadOnlyDictionary<string, FoldStatistic> Knn,
                                 ClassRecall? ClassRetrieval);

/// <summary>Audio→video and video→audio retrieval through the correct-pair head among <see cref="Videos"/> test videos (chance R@1 = 1/Videos).</summary>
public sealed record CppRetrievalResult(int Videos, PairRecall AudioToVideo, PairRecall VideoToAudio);

/// <summary>DIR/probe.json: everything `avbert probe` measured, the options and where the features came from.</summary>
/// <param name="Source">The features folder, or the data spec the features were extracted from.</param>
/// <param name="Model">The model given with --model (null: none).</param>
/// <param name="Protocol">The train/test divisions in words (the source's split, its folds, or the stratified k-fold).</param>
/// <param name="FoldNames">The divisions, in the order of every <see cref="FoldStatistic.Folds"/>.</param>
/// <param name="RetrievalVideos">The videos class retrieval ran over (the test split, or every video under k-fold).</param>
/// <param name="Notes">Lines the run said about its input (multi-label videos, skipped retrieval, ...).</param>
public sealed record ProbeSummary(
    string Source, string? Model, int Videos, IReadOnlyList<string> Classes, double Chance, string Protocol, IReadOnlyList<string> FoldNames,
    int RetrievalVideos, IReadOnlyList<FamilyProbe> Families, CppRetrievalResult? CppRetrieval, ProbeOptions Options,
    IReadOnlyList<string> Notes, double LoadSeconds, double ClassifierSeconds, double RetrievalSeconds, double Seconds)
{
    public const string JsonFile = "probe.json";
    public const string PlotFile = "probe.png";

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, DictionaryKeyPolicy = null,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
