[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("Spinbox.Shim.Tests")]
