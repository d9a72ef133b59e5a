using System.Diagnostics;
using System.Globalization;
using AvBert.Media;
using AvBert.Runtime;
using AvBert.Storage;

namespace AvBert.Synthetic;

/// <summary>What <see cref="ToyAvWriter"/> writes: how many videos per split and at what frame size.</summary>
public sealed record ToyAvWriteOptions
{
    public int TrainVideos { get; init; } = 160;
    public int TestVideos { get; init; } = 80;
    /// <summary>Square frame side of the written videos (the file pipeline rescales and crops them).</summary>
    public int FrameSize { get; init; } = 128;
}

/// <summary>One written video: its path relative to the output folder, split and class.</summary>
public sealed record ToyAvFile(string RelativePath, ToyAvSplit Split, int Index, ToyAvClass Class);

/// <summary>
/// Writes toy-av as real video files through the ffmpeg program (H.264 + AAC in MP4, every frame at the data config's
/// target fps, the waveform at its sample rate), so that people can watch it and run the file pipeline on it. Layout:
/// DIR/{train,test}/&lt;class&gt;/&lt;split&gt;-NNNNNN.mp4 (one folder per class), DIR/{train,test}.csv (path,label),
/// DIR/classes.txt (one class name per line, in label order).
/// </summary>
public sealed class ToyAvWriter(ToyAv data, int fps)
{
    public IReadOnlyList<ToyAvFile> Write(string dir, ToyAvWriteOptions options, Action<ToyAvFile>? written = null, CancellationToken ct = default)
    {
        Directory.CreateDirectory(dir);
        string codec = Mp4Encoding.VideoCodec;
        var files = new List<ToyAvFile>();
        foreach (var (split, count) in new[] { (ToyAvSplit.Train, options.TrainVideos), (ToyAvSplit.Test, options.TestVideos) })
        {
            var rows = new List<string> { "path,label" };
            for (int i = 0; i < count; i++)
            {
                ct.ThrowIfCancellationRequested();
                var scene = data.Scene(split, i);
                var cls = data.Classes[scene.Label];
                string name = split.ToString().ToLowerInvariant();
                var rel = Path.Combine(name, cls.Name, $"{name}-{i:D6}.mp4");
                WriteVideo(scene, Path.Combine(dir, rel), options.FrameSize, codec, ct);
                var file = new ToyAvFile(rel, split, i, cls);
                files.Add(file);
                rows.Add($"{rel},{cls.Name}");
                written?.Invoke(file);
            }
            AtomicFile.WriteAllLines(Path.Combine(dir, $"{split.ToString().ToLowerInvariant()}.csv"), rows);
        }
        AtomicFile.WriteAllLines(Path.Combine(dir, "classes.txt"), data.Classes.Select(c => c.Name));
        return files;
    }

    /// <summary>Renders one scene at <paramref name="size"/>² and fps and encodes it with its soundtrack.</summary>
    public void WriteVideo(ToyAvScene scene, string path, int size, string codec = "libx264", CancellationToken ct = default)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var audioPath = path + ".f32.tmp";   // FFmpeg's audio input, deleted after
        try
        {
            var wave = data.Waveform(scene);
            using (var fs = File.Create(audioPath))
                fs.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(wave.AsSpan()));
            AtomicFile.WriteVia(path, tmpPath => Encode(scene, path, tmpPath, audioPath, size, codec, ct));
        }
        finally
        {
            if (File.Exists(audioPath)) File.Delete(audioPath);
        }
    }

    /// <summary>FFmpeg writes <paramref name="tmpPath"/> from the rendered frames and the waveform at <paramref name="audioPath"/>.</summary>
    void Encode(ToyAvScene scene, string path, string tmpPath, string audioPath, int size, string codec, CancellationToken ct)
    {
        var inv = CultureInfo.InvariantCulture;
        var psi = new ProcessStartInfo("ffmpeg")
        {
            RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
        };
        string[] args =
        [
            "-y", "-v", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", $"{size}x{size}", "-r", fps.ToString(inv), "-i", "pipe:0",
            "-f", "f32le", "-ar", data.SampleRate.ToString(inv), "-ac", "1", "-i", audioPath,
            .. Mp4Encoding.VideoArgs(codec), .. Mp4Encoding.AudioArgs, "-shortest", "-f", "mp4", tmpPath,
        ];
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception) { throw Mp4Encoding.FfmpegNotFound("synth"); }
        using (p)
        using (FfmpegProcess.Track(p, ct))
        {
            var err = p.StandardError.ReadToEndAsync(ct);
            _ = p.StandardOutput.ReadToEndAsync(ct);
            int frames = (int)Math.Round(data.DurationSeconds * fps);
            var planar = new float[3 * size * size];
            var rgb = new byte[3 * size * size];
            var stdin = p.StandardInput.BaseStream;
            try
            {
                for (int f = 0; f < frames; f++)
                {
                    data.Renderer.RenderFrame(scene, (double)f / fps, size, size, planar);
                    int hw = size * size;
                    for (int i = 0; i < hw; i++)
                        for (int c = 0; c < 3; c++)
                            rgb[3 * i + c] = (byte)Math.Clamp((int)Math.Round(planar[c * hw + i] * 255f), 0, 255);
                    stdin.Write(rgb);
                }
            }
            catch (IOException) { /* ffmpeg exited early (or was killed): its stderr says why */ }
            try { stdin.Close(); } catch (IOException) { }
            p.WaitForExit();
            ct.ThrowIfCancellationRequested();
            if (p.ExitCode != 0)
                throw new UserError($"synth: ffmpeg could not write {path}: {err.Result.Trim().Split('\n').LastOrDefault()}");
        }
    }
}
