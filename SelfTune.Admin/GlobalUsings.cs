// The app's own feature namespaces and the few framework namespaces most files use: one list here instead of the
// same block of usings at the top of every file.
global using SelfTune.Admin.Apis;
global using SelfTune.Admin.Audit;
global using SelfTune.Admin.Auth;
global using SelfTune.Admin.Data;
global using SelfTune.Admin.GitHub;
global using SelfTune.Admin.GitHub.Client;
global using SelfTune.Admin.GitHub.Publishing;
global using SelfTune.Admin.GitHub.Webhooks;
global using SelfTune.Admin.Infrastructure;
global using SelfTune.Admin.Jobs;
global using SelfTune.Admin.Registry;
global using SelfTune.Admin.Registry.Packaging;
global using Microsoft.EntityFrameworkCore;
global using Microsoft.Extensions.Options;
global using System.Security.Claims;
global using System.Text.Json;
