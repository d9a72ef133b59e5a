using System.Buffers;
using AvBert.Media;
using AvBert.Storage;

namespace AvBert.Data.Prepared;

/// <summary>
/// A prepared video kept as raw frames (<see cref="PreparedFrames.Raw"/>): RGB24, row-major, frame after frame at the clip
/// frame rate and the set's stored size, nothing else in the file (the size follows from the entry, the frame count from
/// the length). Reading a clip is a seek and a copy — no FFmpeg process, no decoding — at about 3·W·H bytes a frame on disk.
/// </summary>
public static class FrameFile
{
    public const string Extension = ".rgb";

    /// <summary>True for a prepared video file in this format.</summary>
    public static bool Is(string path) => path.EndsWith(Extension, StringComparison.Ordinal);

    /// <summary>Writes <paramref name="frames"/> frames of <paramref name="frameBytes"/> bytes from <paramref name="rgb"/>
    /// (through <see cref="AtomicFile"/>).</summary>
    public static void Write(string path, ReadOnlyMemory<byte> rgb, int frames, int frameBytes)
    {
        var content = rgb[..checked(frames * frameBytes)];
        AtomicFile.Write(path, fs => fs.Write(content.Span));
    }

    /// <summary>Frames <paramref name="first"/> .. first+count−1 into <paramref name="dst"/>; frames past the end repeat the
    /// last one (as decoding past a video's end does). A missing, empty or torn file is a <see cref="MediaError"/> naming
    /// <paramref name="source"/>, so the loader skips that item with a message.</summary>
    public static void Read(string path, string source, int frameBytes, int first, int count, Span<byte> dst)
    {
        if (dst.Length < (long)count * frameBytes) throw new ArgumentException("destination too small", nameof(dst));
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            long length = RandomAccess.GetLength(handle);
            if (length == 0 || length % frameBytes != 0)
                throw new InvalidDataException($"{length} bytes is not a whole number of {frameBytes}-byte frames");
            int frames = (int)(length / frameBytes);
            first = Math.Clamp(first, 0, frames - 1);
            int real = Math.Min(count, frames - first);
            int n = RandomAccess.Read(handle, dst[..(real * frameBytes)], (long)first * frameBytes);
            if (n != real * frameBytes) throw new InvalidDataException($"read {n} of {real * frameBytes} bytes");
            var last = dst.Slice((real - 1) * frameBytes, frameBytes);
            for (int k = real; k < count; k++) last.CopyTo(dst.Slice(k * frameBytes, frameBytes));
        }
        catch (Exception e) when (PreparedIndex.IsDamage(e)) { throw PreparedIndex.Damaged(source, path, e); }
    }

    /// <summary>Reads frames as <see cref="Read"/> into a buffer rented from the shared pool (return it with
    /// <see cref="ArrayPool{T}.Return"/>): clips are read at every step, and fresh large arrays would each cost a full
    /// garbage collection.</summary>
    public static byte[] ReadPooled(string path, string source, int frameBytes, int first, int count)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(count * frameBytes);
        try { Read(path, source, frameBytes, first, count, buffer); }
        catch { ArrayPool<byte>.Shared.Return(buffer); throw; }
        return buffer;
    }
}
