using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Components;

namespace SelfTune.Admin.Tests.Benchmarks;

/// <summary>
/// A renderer's dispatcher that also counts what the page costs: the CPU time (and the bytes allocated) of the threads
/// while they run the page's work. The work runs as Blazor's own dispatcher runs it: one item at a time, on pool threads,
/// with this context as <see cref="SynchronizationContext.Current"/>, so every continuation of the page's awaits (its
/// change-feed handler, its database reads, its renders) comes back here and is counted. On SQLite that is all of it
/// (Microsoft.Data.Sqlite runs every call synchronously); on PostgreSQL the part Npgsql and EF Core run on pool threads
/// between network reads (<c>ConfigureAwait(false)</c>) is not. Linux only (<c>CLOCK_THREAD_CPUTIME_ID</c>).
/// </summary>
public sealed class MeteredDispatcher : Dispatcher
{
    readonly MeteredContext context = new();

    /// <summary>CPU time spent on the page's work so far.</summary>
    public TimeSpan Cpu => TimeSpan.FromTicks(Interlocked.Read(ref context.CpuNanoseconds) / 100);

    /// <summary>Bytes the page's work allocated so far.</summary>
    public long Allocated => Interlocked.Read(ref context.AllocatedBytes);

    public override bool CheckAccess() => SynchronizationContext.Current == context;

    public override Task InvokeAsync(Action workItem) => InvokeAsync(() =>
    {
        workItem();
        return Task.FromResult(true);
    });

    public override Task InvokeAsync(Func<Task> workItem) => InvokeAsync(async () =>
    {
        await workItem();
        return true;
    });

    public override Task<TResult> InvokeAsync<TResult>(Func<TResult> workItem) => InvokeAsync(() => Task.FromResult(workItem()));

    public override Task<TResult> InvokeAsync<TResult>(Func<Task<TResult>> workItem)
    {
        if (CheckAccess()) return workItem();
        var done = new TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        context.Post(_ =>
        {
            Task<TResult> task;
            try { task = workItem(); }
            catch (Exception e)
            {
                done.SetException(e);
                return;
            }
            task.ContinueWith(t =>
            {
                if (t.IsFaulted) done.SetException(t.Exception!.InnerExceptions);
                else if (t.IsCanceled) done.SetCanceled();
                else done.SetResult(t.Result);
            }, TaskContinuationOptions.ExecuteSynchronously);
        }, null);
        return done.Task;
    }

    sealed class MeteredContext : SynchronizationContext
    {
        readonly Lock gate = new();
        Task last = Task.CompletedTask; // the work items run one after the other, in the order posted
        public long CpuNanoseconds;
        public long AllocatedBytes;

        public override void Post(SendOrPostCallback d, object? state)
        {
            lock (gate) last = last.ContinueWith(_ => Run(d, state), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }

        public override void Send(SendOrPostCallback d, object? state)
        {
            if (Current == this) d(state);
            else
            {
                using var ran = new ManualResetEventSlim();
                Post(s => { try { d(s); } finally { ran.Set(); } }, state);
                ran.Wait();
            }
        }

        public override SynchronizationContext CreateCopy() => this;

        void Run(SendOrPostCallback d, object? state)
        {
            var previous = Current;
            SetSynchronizationContext(this);
            var (cpu, allocated) = (ThreadCpuNanoseconds(), GC.GetAllocatedBytesForCurrentThread());
            try { d(state); }
            finally
            {
                Interlocked.Add(ref CpuNanoseconds, ThreadCpuNanoseconds() - cpu);
                Interlocked.Add(ref AllocatedBytes, GC.GetAllocatedBytesForCurrentThread() - allocated);
                SetSynchronizationContext(previous);
            }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    static extern int ClockGetTime(int clock, out Timespec time);

    const int ClockThreadCpuTimeId = 3;

    static long ThreadCpuNanoseconds() =>
        OperatingSystem.IsLinux() && ClockGetTime(ClockThreadCpuTimeId, out var t) == 0 ? t.Seconds * 1_000_000_000 + t.Nanoseconds : 0;
}
