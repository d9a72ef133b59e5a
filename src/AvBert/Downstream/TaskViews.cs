using AvBert.Config;
using AvBert.Data;

namespace AvBert.Downstream;

/// <summary>
/// How each task cuts videos into training samples and test views (SPEC §8), as <see cref="SequenceOptions"/> for the
/// media dataset:
/// <list type="bullet">
/// <item><b>visual</b> (UCF101): train = K single clips per video per epoch, each with its own random crop; test = the
/// <c>test_clips</c> uniform clips × <c>test_crops</c> crops, every clip of every crop one view.</item>
/// <item><b>audio</b> (ESC-50): train = K fixed windows (<c>window_seconds</c>, uniform) per file, with spectrogram masks;
/// test = the same windows without masks, each one view.</item>
/// <item><b>audiovisual, multilabel</b> (Kinetics-Sounds): train = one data.sequence_length-clip sequence per video;
/// test = one sequence of <c>test_clips</c> uniform clips (the reference's TEST.NUM_ENSEMBLE_VIEWS, 10 like its sequence
/// length) in each of <c>test_crops</c> crops; every clip of it is a view (both heads predict per clip).</item>
/// </list>
/// Test samples carry all of a video's temporal views as the T clips of one sample (one decode), which lands the clips
/// exactly where single-clip views would: position k/(K−1).
/// </summary>
public static class TaskViews
{
    public static Modalities ModalitiesOf(DownstreamTask task) => task switch
    {
        DownstreamTask.Visual => Modalities.Visual,
        DownstreamTask.Audio => Modalities.Audio,
        _ => Modalities.AudioVisual,
    };

    static double? Window(TaskProtocolConfig t) => t.WindowSeconds > 0 ? t.WindowSeconds : null;

    public static SequenceOptions Train(DownstreamConfig d)
    {
        var t = d.Current;
        return d.UsesSequences
            ? new SequenceOptions { Mode = SampleMode.Train, Modalities = Modalities.AudioVisual, ViewsPerVideo = t.TrainSamplesPerVideo, AudioWindowSeconds = Window(t) }
            : new SequenceOptions
            {
                Mode = SampleMode.Train, Modalities = ModalitiesOf(d.Task), ClipsPerSample = 1, ViewsPerVideo = t.TrainSamplesPerVideo,
                AudioWindowSeconds = Window(t),
            };
    }

    public static SequenceOptions Test(DownstreamConfig d)
    {
        var t = d.Current;
        return d.UsesSequences
            ? new SequenceOptions
            {
                Mode = SampleMode.Test, Modalities = Modalities.AudioVisual, ClipsPerSample = t.TestClips, ViewsPerVideo = 1, SpatialCrops = t.TestCrops,
                AudioWindowSeconds = Window(t),
            }
            : new SequenceOptions
            {
                Mode = SampleMode.Test, Modalities = ModalitiesOf(d.Task), ClipsPerSample = t.TestClips, ViewsPerVideo = 1,
                SpatialCrops = t.TestCrops, AudioWindowSeconds = Window(t),
            };
    }

    /// <summary>Spatial crops per temporal view at test time (audio has none).</summary>
    public static int TestCrops(DownstreamConfig d) => d.Task == DownstreamTask.Audio ? 1 : d.Current.TestCrops;

    /// <summary>Views per video at test time, for messages: "12 views (4 clips × 3 crops)" or "10 views (10 windows)".</summary>
    public static string DescribeTestViews(DownstreamConfig d)
    {
        int clips = d.Current.TestClips, crops = TestCrops(d);
        return d.Task == DownstreamTask.Audio ? $"{clips} views ({clips} windows)" : $"{clips * crops} views ({clips} clips × {crops} crops)";
    }
}
