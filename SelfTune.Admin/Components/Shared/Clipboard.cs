using Microsoft.JSInterop;
using MudBlazor;

namespace SelfTune.Admin.Components.Shared;

/// <summary>Puts text on the browser's clipboard and tells the user how that went: the one home of every Copy button.</summary>
public static class Clipboard
{
    /// <summary>
    /// A browser that has neither written nor refused by then is taken as refusing. Without a bound the call waits for
    /// Blazor's interop timeout (a minute) with no word to the user; a browser journey once saw no answer within 30 s.
    /// </summary>
    static readonly TimeSpan MostWait = TimeSpan.FromSeconds(5);

    /// <summary>Copies <paramref name="text"/>; says <paramref name="copied"/>, or, when the browser refuses, how to copy by hand.</summary>
    public static async Task CopyAsync(IJSRuntime js, ISnackbar snackbar, string text, string copied, string byHand)
    {
        try
        {
            await js.InvokeVoidAsync("navigator.clipboard.writeText", MostWait, text);
            snackbar.Add(copied, Severity.Success);
        }
        catch (Exception e) when (e is JSException or TaskCanceledException)
        {
            snackbar.Add($"The browser did not put it on the clipboard; {byHand}", Severity.Warning);
        }
    }
}
