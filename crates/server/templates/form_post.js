document.getElementById("response").submit();
