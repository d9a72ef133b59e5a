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
/// test = the sequence in each of <c>test_crops</c> crops; every clip of it is a view (both heads predict per clip).</item>
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
        _ => Modalities.Both,
    };

    static double? Window(TaskProtocolConfig t) => t.WindowSeconds > 0 ? t.WindowSeconds : null;

    public static SequenceOptions Train(DownstreamConfig d)
    {
        var t = d.Current;
        return d.UsesSequences
            ? new SequenceOptions { Mode = SampleMode.Train, Modalities = Modalities.Both, ViewsPerVideo = t.TrainSamplesPerVideo, AudioWindowSeconds = Window(t) }
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
            ? new SequenceOptions { Mode = SampleMode.Test, Modalities = Modalities.Both, ViewsPerVideo = 1, SpatialCrops = t.TestCrops, AudioWindowSeconds = Window(t) }
            : new SequenceOptions
            {
                Mode = SampleMode.Test, Modalities = ModalitiesOf(d.Task), ClipsPerSample = t.TestClips, ViewsPerVideo = 1,
                SpatialCrops = t.TestCrops, AudioWindowSeconds = Window(t),
            };
    }

    /// <summary>Views per video at test time (clips × crops), for messages.</summary>
    public static int TestViewsPerVideo(DownstreamConfig d, DataConfig data)
    {
        var t = d.Current;
        int crops = d.Task == DownstreamTask.Audio ? 1 : t.TestCrops;
        return (d.UsesSequences ? data.SequenceLength : t.TestClips) * crops;
    }
}
